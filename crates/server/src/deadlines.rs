//! The deadline engine: finds due timers in the database, applies them to their cases and
//! commits consequence, events and timer completion in one transaction.
//!
//! Correctness does not rest on the lease. Firing is a case write guarded by the case's
//! version, and the pure core re-checks at fire time that the deadline is still running, so
//! if the merchant acted a millisecond earlier, or another replica got there first, the write
//! either fails on the version and is retried against the fresh case (where the deadline is
//! no longer active) or has nothing to do. The lease only keeps replicas from doing the same
//! work twice, and a crashed worker's lease simply runs out.

use aftersales_domain::{Case, CaseId, Clock, EventKind, PolicyRegistry, TenantId};
use aftersales_store::{
    CaseWrite, ClaimedTimer, Store, StoreError, StoredEvent, TimerClaim, WriteMode,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::KeyValue;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Run the sweep loop in this process. Off for a replica that only serves the API.
    pub enabled: bool,
    /// Timers claimed per sweep.
    pub batch: u32,
    /// How long a claim is held before another replica may rescue it.
    pub lease: Duration,
    /// Longest sleep between sweeps when nothing is due sooner.
    pub idle_poll: Duration,
    /// Cases written at once within one sweep (Postgres runs them in parallel; SQLite's
    /// single writer queues them).
    pub concurrency: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            enabled: true,
            batch: 512,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
            concurrency: 8,
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub claimed: usize,
    pub cases: usize,
    pub expired: usize,
    pub reminded: usize,
    /// Claimed, but the case had moved on (someone acted first): nothing fired.
    pub moot: usize,
    /// Version conflicts retried against the fresh case.
    pub retried: usize,
    /// Cases that could not be processed; their leases run out and they are tried again.
    pub failed: usize,
}

impl SweepReport {
    /// A full batch that made progress: sweep again at once. Anything else (a short batch, or
    /// a batch where nothing could be fired) waits for the next poll, so a row that keeps
    /// failing cannot spin the loop.
    fn more_may_be_due(&self, batch: u32) -> bool {
        self.claimed >= batch as usize && self.expired + self.reminded > 0
    }

    fn add(&mut self, other: &SweepReport) {
        self.claimed += other.claimed;
        self.cases += other.cases;
        self.expired += other.expired;
        self.reminded += other.reminded;
        self.moot += other.moot;
        self.retried += other.retried;
        self.failed += other.failed;
    }
}

const MAX_ATTEMPTS: usize = 4;

/// Bucket bounds of `aftersales.deadline.lateness`, in seconds: a healthy engine fires within
/// one sweep interval (a second by default), so the fine buckets are below a few seconds; the
/// coarse ones show a stopped engine catching up (minutes to days).
const LATENESS_BOUNDS: [f64; 16] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
    86400.0,
];

/// The engine's instruments, on the global meter provider (a no-op without an exporter).
struct EngineMetrics {
    lateness: Histogram<f64>,
    reminders: Counter<u64>,
    expirations: Counter<u64>,
}

impl EngineMetrics {
    fn new() -> Self {
        let meter = opentelemetry::global::meter(crate::metrics::METER);
        EngineMetrics {
            lateness: meter
                .f64_histogram("aftersales.deadline.lateness")
                .with_unit("s")
                .with_description(
                    "How long after its time a deadline's reminder or expiry fired (firing lag).",
                )
                .with_boundaries(LATENESS_BOUNDS.to_vec())
                .build(),
            reminders: meter
                .u64_counter("aftersales.deadline.reminders")
                .with_unit("{reminder}")
                .with_description("Deadline reminders sent, by platform and rule.")
                .build(),
            expirations: meter
                .u64_counter("aftersales.deadline.expirations")
                .with_unit("{deadline}")
                .with_description(
                    "Deadlines that expired and had their consequence applied, by platform and rule.",
                )
                .build(),
        }
    }
}

pub struct DeadlineEngine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policies: Arc<PolicyRegistry>,
    options: EngineOptions,
    /// Identifies this process's leases.
    owner: String,
    /// Wakes local WatchCaseEvents streams after a commit.
    feed: Option<watch::Sender<u64>>,
    metrics: EngineMetrics,
}

impl DeadlineEngine {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policies: Arc<PolicyRegistry>,
        options: EngineOptions,
        feed: Option<watch::Sender<u64>>,
    ) -> Self {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        DeadlineEngine {
            store,
            clock,
            policies,
            options,
            owner,
            feed,
            metrics: EngineMetrics::new(),
        }
    }

    /// Sweep until nothing is due at the clock's current time.
    pub async fn sweep_until_idle(&self) -> Result<SweepReport, StoreError> {
        let mut total = SweepReport::default();
        loop {
            let r = self.sweep_once().await?;
            total.add(&r);
            if !r.more_may_be_due(self.options.batch) {
                return Ok(total);
            }
        }
    }

    /// Claim one batch of due timers and apply them.
    pub async fn sweep_once(&self) -> Result<SweepReport, StoreError> {
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.options.lease)
            .unwrap_or_else(|_| chrono::Duration::seconds(30));
        let claimed = self
            .store
            .claim_due_timers(&TimerClaim {
                owner: self.owner.clone(),
                now,
                lease_until: now + lease,
                limit: self.options.batch,
            })
            .await?;
        let mut report = SweepReport {
            claimed: claimed.len(),
            ..SweepReport::default()
        };
        if claimed.is_empty() {
            return Ok(report);
        }
        let mut by_case: BTreeMap<(TenantId, CaseId), Vec<ClaimedTimer>> = BTreeMap::new();
        for t in claimed {
            by_case
                .entry((t.tenant.clone(), t.case_id.clone()))
                .or_default()
                .push(t);
        }
        let keys: Vec<_> = by_case.keys().cloned().collect();
        let cases = self.store.cases_by_ids(&keys).await?;
        report.cases = cases.len();
        let results: Vec<SweepReport> = futures::stream::iter(cases.into_iter().map(|case| {
            let timers = by_case
                .remove(&(case.tenant.clone(), case.id.clone()))
                .unwrap_or_default();
            self.process_case(case, timers, now)
        }))
        .buffer_unordered(self.options.concurrency.max(1))
        .collect()
        .await;
        for r in &results {
            report.add(r);
        }
        // Claimed rows whose case is gone (deleted between claim and load): let them go.
        let orphans: Vec<ClaimedTimer> = by_case.into_values().flatten().collect();
        if !orphans.is_empty() {
            self.store.release_timers(&self.owner, &orphans).await?;
        }
        if report.expired + report.reminded > 0 {
            if let Some(feed) = &self.feed {
                feed.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        Ok(report)
    }

    async fn process_case(
        &self,
        mut case: Case,
        timers: Vec<ClaimedTimer>,
        now: DateTime<Utc>,
    ) -> SweepReport {
        let span = tracing::info_span!(
            "deadline.fire",
            otel.name = "deadline.fire",
            tenant = %case.tenant,
            case_id = %case.id,
            platform = %case.platform,
            policy_version = %case.policy_version,
            timers = timers.len() as u64,
            expired = tracing::field::Empty,
            reminded = tracing::field::Empty,
        );
        async move {
            let mut report = SweepReport::default();
            for attempt in 1..=MAX_ATTEMPTS {
                let Some(policy) = self.policies.version(&case.platform, &case.policy_version)
                else {
                    tracing::error!(
                        "case opened under a policy version this build does not have; its \
                         deadlines cannot fire here"
                    );
                    report.failed += 1;
                    return report;
                };
                let Some(change) = case.apply_due_timers(policy, now) else {
                    report.moot += 1;
                    if let Err(e) = self.store.release_timers(&self.owner, &timers).await {
                        tracing::warn!(error = %e, "could not release leases; they will expire");
                    }
                    return report;
                };
                let expected_version = case.version;
                let mut events = change.events;
                for e in &mut events {
                    // Which process fired it: for operators tracing a replica, and for the
                    // replica tests that check the work was shared.
                    e.detail["engine"] = serde_json::json!(self.owner);
                }
                let write = CaseWrite {
                    case: change.case,
                    mode: WriteMode::Update { expected_version },
                    events,
                    idempotency: None,
                    // The engine acts on no one's request: its events record no caller.
                    caller: None,
                };
                match self.store.write(write).await {
                    // The store hands back what it committed; report from that, not a copy.
                    Ok(stored) => {
                        record_signals(&case, &stored, &mut report, &self.metrics);
                        let span = tracing::Span::current();
                        span.record("expired", report.expired as u64);
                        span.record("reminded", report.reminded as u64);
                        return report;
                    }
                    Err(StoreError::VersionConflict { .. }) if attempt < MAX_ATTEMPTS => {
                        // Someone changed the case since it was loaded: decide again on the
                        // fresh case, where the deadline may no longer apply.
                        report.retried += 1;
                        match self.store.case(&case.tenant, &case.id).await {
                            Ok(Some(fresh)) => case = fresh,
                            Ok(None) => return report,
                            Err(e) => {
                                tracing::warn!(error = %e, "reload after a conflict failed");
                                report.failed += 1;
                                return report;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "firing failed; the lease will expire and it is retried");
                        report.failed += 1;
                        return report;
                    }
                }
            }
            report.failed += 1;
            report
        }
        .instrument(span)
        .await
    }

    /// Sweep until `shutdown` turns true. Sleeps until the next timer, at most `idle_poll`, so
    /// an idle server with a million future deadlines runs one indexed MIN query per poll.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(owner = %self.owner, batch = self.options.batch, "deadline engine started");
        let mut backoff = Duration::from_millis(200);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let pause = match self.sweep_once().await {
                Ok(r) if r.more_may_be_due(self.options.batch) => {
                    backoff = Duration::from_millis(200);
                    Duration::ZERO
                }
                Ok(_) => {
                    backoff = Duration::from_millis(200);
                    self.idle_pause().await
                }
                Err(e) => {
                    tracing::warn!(error = %e, ?backoff, "deadline sweep failed; retrying");
                    let pause = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    pause
                }
            };
            if pause.is_zero() {
                continue;
            }
            if !crate::pause_unless_stopped(&mut shutdown, pause).await {
                break;
            }
        }
        tracing::info!("deadline engine stopped");
    }

    async fn idle_pause(&self) -> Duration {
        let poll = self.options.idle_poll;
        match self.store.next_timer_at().await {
            // Still in the future: wake when it is due.
            Ok(Some(next)) if next > self.clock.now() => (next - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(poll),
            // Already due, yet this sweep did not get it: another replica holds its lease (or
            // it keeps failing). Its lease decides when it comes free; polling faster than
            // usual would only burn queries.
            Ok(_) | Err(_) => poll,
        }
    }
}

/// Each signal is its own span (X-02: dashboards count reminders and expiries by rule), with
/// the deadline kind, rule id and lateness, and goes into the engine's metrics.
fn record_signals(
    case: &Case,
    events: &[StoredEvent],
    report: &mut SweepReport,
    metrics: &EngineMetrics,
) {
    for e in events {
        let d = &e.detail;
        let field = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let late_by_ms = d.get("late_by_ms").and_then(|v| v.as_i64()).unwrap_or(0);
        let rule = field("rule");
        let attributes = |kind: &'static str| {
            [
                KeyValue::new("deadline.kind", kind),
                KeyValue::new("platform", case.platform.as_str().to_string()),
                KeyValue::new("rule", rule.clone()),
            ]
        };
        let lateness = late_by_ms.max(0) as f64 / 1000.0;
        match e.kind.as_str() {
            k if k == EventKind::DeadlineExpired.as_str() => {
                report.expired += 1;
                let attributes = attributes("expiry");
                metrics.lateness.record(lateness, &attributes[..2]);
                metrics.expirations.add(1, &attributes[1..]);
                let _s = tracing::info_span!(
                    "deadline.expired",
                    deadline.kind = "expiry",
                    tenant = %case.tenant,
                    case_id = %case.id,
                    platform = %case.platform,
                    rule = %rule,
                    deadline = %field("deadline"),
                    consequence = %field("consequence"),
                    late_by_ms,
                )
                .entered();
                tracing::info!(
                    from = ?e.from_state,
                    to = ?e.to_state,
                    applied = d.get("consequence_applied").and_then(|v| v.as_bool()).unwrap_or(false),
                    "deadline expired"
                );
            }
            k if k == EventKind::DeadlineReminder.as_str() => {
                report.reminded += 1;
                let attributes = attributes("reminder");
                metrics.lateness.record(lateness, &attributes[..2]);
                metrics.reminders.add(1, &attributes[1..]);
                let _s = tracing::info_span!(
                    "deadline.reminder",
                    deadline.kind = "reminder",
                    tenant = %case.tenant,
                    case_id = %case.id,
                    platform = %case.platform,
                    rule = %rule,
                    deadline = %field("deadline"),
                    due_at = %field("due_at"),
                    late_by_ms,
                )
                .entered();
                tracing::info!("deadline about to time out");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! The engine's spans: what a dashboard sees when a deadline fires.

    use super::*;
    use aftersales_domain::event::Actor;
    use aftersales_domain::{
        BoundedText, CaseDraft, CaseKind, Fen, Fulfilment, ManualClock, OrderId, PlatformCode,
        ShopId,
    };
    use aftersales_platforms::AdapterRegistry;
    use std::sync::Mutex;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    /// A span's name and the fields it was given or later recorded.
    type SeenSpan = (String, BTreeMap<String, String>);

    /// Every span opened.
    #[derive(Clone, Default)]
    struct Spans(Arc<Mutex<Vec<SeenSpan>>>);

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(
                field.name().to_string(),
                format!("{value:?}").replace('"', ""),
            );
        }
    }

    impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S>
        for Spans
    {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut fields = BTreeMap::new();
            attrs.record(&mut Fields(&mut fields));
            let mut spans = self.0.lock().unwrap();
            spans.push((attrs.metadata().name().to_string(), fields));
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(spans.len() - 1);
            }
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
            let Some(index) = ctx
                .span(id)
                .and_then(|s| s.extensions().get::<usize>().copied())
            else {
                return;
            };
            let mut spans = self.0.lock().unwrap();
            values.record(&mut Fields(&mut spans[index].1));
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn x_02_each_firing_is_a_span_with_case_platform_and_tenant() {
        let spans = Spans::default();
        let subscriber = tracing_subscriber::registry().with(spans.clone());
        let _guard = tracing::subscriber::set_default(subscriber);

        let store = aftersales_store::connect("sqlite::memory:", 1)
            .await
            .unwrap();
        let policies = Arc::new(AdapterRegistry::builtin().load_policies().unwrap());
        let taobao = PlatformCode::parse("taobao").unwrap();
        let opened = aftersales_domain::time::parse_shanghai("2026-11-21 10:00:00").unwrap();
        let policy = policies.in_force(&taobao, opened).unwrap();
        let change = Case::open(
            CaseId::parse("case-1").unwrap(),
            TenantId::parse("acme").unwrap(),
            CaseDraft {
                order_id: Some(OrderId::parse("o-1").unwrap()),
                ..CaseDraft::new(
                    ShopId::parse("shop-1").unwrap(),
                    taobao.clone(),
                    CaseKind::RefundOnly,
                    Fulfilment::NotShipped,
                    Fen::new(100).unwrap(),
                    BoundedText::parse("").unwrap(),
                    BoundedText::parse("").unwrap(),
                )
            },
            policy,
            Actor::merchant("ops"),
            opened,
            &[],
        )
        .unwrap();
        store
            .write(CaseWrite {
                case: change.case,
                mode: WriteMode::Insert,
                events: change.events,
                idempotency: None,
                caller: None,
            })
            .await
            .unwrap();
        let clock = ManualClock::new(opened + chrono::Duration::hours(36));
        let engine = DeadlineEngine::new(
            store,
            Arc::new(clock.clone()),
            policies,
            EngineOptions::default(),
            None,
        );
        assert_eq!(engine.sweep_until_idle().await.unwrap().reminded, 1);
        clock.advance(chrono::Duration::hours(12));
        assert_eq!(engine.sweep_until_idle().await.unwrap().expired, 1);

        let spans = spans.0.lock().unwrap().clone();
        let named = |name: &str| -> Vec<BTreeMap<String, String>> {
            spans
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, f)| f.clone())
                .collect()
        };
        let fires = named("deadline.fire");
        assert_eq!(fires.len(), 2, "one per case processed, per sweep");
        for f in &fires {
            assert_eq!(f["tenant"], "acme");
            assert_eq!(f["case_id"], "case-1");
            assert_eq!(f["platform"], "taobao");
        }
        assert_eq!(fires[1]["expired"], "1");
        let reminder = &named("deadline.reminder")[0];
        assert_eq!(reminder["rule"], "TB-04");
        assert_eq!(reminder["deadline.kind"], "reminder");
        let expired = &named("deadline.expired")[0];
        assert_eq!(expired["deadline.kind"], "expiry");
        assert_eq!(
            (
                expired["rule"].as_str(),
                expired["consequence"].as_str(),
                expired["case_id"].as_str(),
                expired["late_by_ms"].as_str()
            ),
            ("TB-04", "auto_refund", "case-1", "0")
        );
    }
}
