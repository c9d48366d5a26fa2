//! Metrics: OpenTelemetry instruments, pushed over OTLP (gRPC) to the collector named by
//! `OTEL_EXPORTER_OTLP_ENDPOINT` every `OTEL_METRIC_EXPORT_INTERVAL` milliseconds (default
//! 60 000). docs/observability.md lists every instrument and why OTLP rather than a
//! Prometheus endpoint.
//!
//! The instruments live where their measurements are taken: the RPC histogram in the gate
//! (aftersales-api), the deadline engine's in [`crate::deadlines`], the store latency in
//! [`StoreTiming`], and here the gauges, the group commit's counters and the grouped lookups'
//! ([`GroupCommitMetrics`]). All of them use the global meter provider, which is a no-op until
//! [`provider`] installs the exporting one, so tests and a server without an endpoint pay
//! nothing.

use aftersales_domain::{CaseState, Clock};
use aftersales_store::{GaugeCounts, Store};
use opentelemetry::metrics::{Histogram, ObservableCounter, ObservableGauge};
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The instrumentation scope every aftersales instrument is created under.
pub const METER: &str = "aftersales";

/// The OTLP metric exporter on a periodic reader, installed as the global meter provider.
/// Must run inside the Tokio runtime (the tonic exporter needs it).
pub fn provider(resource: Resource) -> Result<SdkMeterProvider, Box<dyn std::error::Error>> {
    let mut builder = opentelemetry_otlp::MetricExporter::builder().with_tonic();
    if let Some(tls) = crate::telemetry::otlp_tls("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")? {
        builder = builder.with_tls_config(tls);
    }
    let exporter = builder.build()?;
    // The periodic reader reads OTEL_METRIC_EXPORT_INTERVAL itself.
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());
    Ok(provider)
}

/// Bucket bounds of the store latency histogram, in seconds: the semantic conventions' advice
/// for `db.client.operation.duration` with 0.5 ms and 1 ms below it (SQLite reads and indexed
/// PostgreSQL reads are sub-millisecond to a few milliseconds).
const STORE_DURATION_BOUNDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    10.0,
];

/// The store's calls are spans already (`#[tracing::instrument]` on every `Store` method, with
/// `db.system`); this layer times them into `db.client.operation.duration`, attributes
/// `db.system.name` and `db.operation.name` (the store method). Add it with a filter that
/// passes only the store's targets (see [`StoreTiming::targets`]). A span's time runs from
/// its creation to its close, which for an instrumented future is the call as its caller
/// waited for it, pool wait included.
pub struct StoreTiming {
    histogram: Histogram<f64>,
}

/// What [`StoreTiming`] keeps in a store span's extensions.
struct StoreCall {
    started: Instant,
    system: Option<String>,
}

impl StoreTiming {
    pub fn new() -> Self {
        StoreTiming {
            histogram: opentelemetry::global::meter(METER)
                .f64_histogram("db.client.operation.duration")
                .with_unit("s")
                .with_description("Duration of one store call (one Store trait method).")
                .with_boundaries(STORE_DURATION_BOUNDS.to_vec())
                .build(),
        }
    }

    /// The spans this layer is for: the store crate's, at INFO (the level
    /// `#[tracing::instrument]` gives them).
    pub fn targets() -> tracing_subscriber::filter::Targets {
        tracing_subscriber::filter::Targets::new()
            .with_target("aftersales_store", tracing::Level::INFO)
    }
}

impl Default for StoreTiming {
    fn default() -> Self {
        Self::new()
    }
}

struct DbSystem<'a>(&'a mut Option<String>);

impl Visit for DbSystem<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "db.system" {
            *self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "db.system" {
            *self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

impl<S> Layer<S> for StoreTiming
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut system = None;
        attrs.record(&mut DbSystem(&mut system));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(StoreCall {
                started: Instant::now(),
                system,
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let extensions = span.extensions();
        let Some(call) = extensions.get::<StoreCall>() else {
            return;
        };
        let mut attributes = vec![KeyValue::new("db.operation.name", span.name())];
        if let Some(system) = &call.system {
            attributes.push(KeyValue::new("db.system.name", system.clone()));
        }
        self.histogram
            .record(call.started.elapsed().as_secs_f64(), &attributes);
    }
}

/// The last counts read, as the gauges report them: every (platform, state) and platform ever
/// seen since start, with 0 where it has none now, so a series falls to zero instead of
/// vanishing and leaving its last value on a dashboard.
#[derive(Default)]
struct GaugeCache {
    open_cases: Vec<(u64, [KeyValue; 2])>,
    deadlines: Vec<(u64, [KeyValue; 2])>,
    seen_cases: BTreeSet<(String, CaseState)>,
    seen_platforms: BTreeSet<String>,
}

impl GaugeCache {
    fn update(&mut self, counts: &GaugeCounts) {
        for c in &counts.open_cases {
            self.seen_cases.insert((c.platform.clone(), c.state));
        }
        for d in &counts.deadlines {
            self.seen_platforms.insert(d.platform.clone());
        }
        self.open_cases = self
            .seen_cases
            .iter()
            .map(|(platform, state)| {
                let n = counts
                    .open_cases
                    .iter()
                    .find(|c| &c.platform == platform && c.state == *state)
                    .map_or(0, |c| c.count);
                (
                    n,
                    [
                        KeyValue::new("platform", platform.clone()),
                        KeyValue::new("state", state.as_str()),
                    ],
                )
            })
            .collect();
        self.deadlines = self
            .seen_platforms
            .iter()
            .flat_map(|platform| {
                let d = counts.deadlines.iter().find(|d| &d.platform == platform);
                let (due, overdue) = d.map_or((0, 0), |d| (d.due, d.overdue));
                [("due", due), ("overdue", overdue)].map(|(status, n)| {
                    (
                        n,
                        [
                            KeyValue::new("platform", platform.clone()),
                            KeyValue::new("status", status),
                        ],
                    )
                })
            })
            .collect();
    }
}

/// The gauges and the loop that feeds them. The database is read by the loop, every `every`;
/// the gauges' callbacks (run by the exporter at each collection) only copy the last result,
/// so a slow database never stalls metric export.
pub struct Gauges {
    cache: Arc<Mutex<GaugeCache>>,
    _open_cases: ObservableGauge<u64>,
    _deadlines: ObservableGauge<u64>,
}

impl Gauges {
    pub fn register() -> Self {
        let cache = Arc::new(Mutex::new(GaugeCache::default()));
        let meter = opentelemetry::global::meter(METER);
        let c = cache.clone();
        let open_cases = meter
            .u64_observable_gauge("aftersales.cases.open")
            .with_unit("{case}")
            .with_description(
                "Cases not yet resolved, by platform and state, across all tenants \
                 (every replica reports the same count).",
            )
            .with_callback(move |observer| {
                if let Ok(cache) = c.lock() {
                    for (n, attributes) in &cache.open_cases {
                        observer.observe(*n, attributes);
                    }
                }
            })
            .build();
        let c = cache.clone();
        let deadlines = meter
            .u64_observable_gauge("aftersales.deadlines.active")
            .with_unit("{deadline}")
            .with_description(
                "Running deadlines by platform; status=overdue: past due and not fired yet \
                 (the engine's backlog), status=due: due later.",
            )
            .with_callback(move |observer| {
                if let Ok(cache) = c.lock() {
                    for (n, attributes) in &cache.deadlines {
                        observer.observe(*n, attributes);
                    }
                }
            })
            .build();
        Gauges {
            cache,
            _open_cases: open_cases,
            _deadlines: deadlines,
        }
    }

    /// Read the counts once and keep them for the gauges.
    pub async fn refresh(&self, store: &dyn Store, now: chrono::DateTime<chrono::Utc>) {
        match store.gauge_counts(now).await {
            Ok(counts) => {
                if let Ok(mut cache) = self.cache.lock() {
                    cache.update(&counts);
                }
            }
            // The gauges keep the last counts; the store span carries the error.
            Err(e) => tracing::warn!(error = %e, "reading the gauge counts failed"),
        }
    }

    /// Refresh every `every` until `shutdown` turns true.
    pub async fn run(
        self,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            self.refresh(store.as_ref(), clock.now()).await;
            if !crate::pause_unless_stopped(&mut shutdown, every).await {
                return;
            }
        }
    }
}

/// What the group commit has done, read from the store's counters at each collection: how
/// many case writes share a transaction is what decides a write's cost (docs/benchmarks.md),
/// and a queue of pending writes that does not drain is the first sign of a stuck database.
/// The callbacks hold the store weakly, so a store closed without the process ending (tests)
/// is not kept alive by its instruments; once it is gone they observe nothing.
pub struct GroupCommitMetrics {
    _writes: ObservableCounter<u64>,
    _batches: ObservableCounter<u64>,
    _abandoned: ObservableCounter<u64>,
    _pending: ObservableGauge<u64>,
    _grouped_reads: Option<GroupedReadMetrics>,
}

/// How concurrent lookups were grouped into shared statements (PostgreSQL), by what they
/// look up: the read side's counterpart of the group commit's counters.
struct GroupedReadMetrics {
    _lookups: ObservableCounter<u64>,
    _statements: ObservableCounter<u64>,
    _waiting: ObservableGauge<u64>,
}

impl GroupedReadMetrics {
    /// None where the store runs each lookup alone, so no empty series is exported.
    fn register(store: &Arc<dyn Store>) -> Option<Self> {
        if store.grouped_read_stats().is_empty() {
            return None;
        }
        let meter = opentelemetry::global::meter(METER);
        let observing =
            |read: fn(&aftersales_store::postgres_grouped_reads::GroupedReadStats) -> u64| {
                let store: Weak<dyn Store> = Arc::downgrade(store);
                move |observer: &dyn opentelemetry::metrics::AsyncInstrument<u64>| {
                    if let Some(store) = store.upgrade() {
                        for (lookup, stats) in store.grouped_read_stats() {
                            observer.observe(read(&stats), &[KeyValue::new("lookup", lookup)]);
                        }
                    }
                }
            };
        Some(GroupedReadMetrics {
            _lookups: meter
                .u64_observable_counter("aftersales.store.grouped_lookups")
                .with_unit("{lookup}")
                .with_description("Lookups answered by statements shared with concurrent ones.")
                .with_callback(observing(|s| s.lookups))
                .build(),
            _statements: meter
                .u64_observable_counter("aftersales.store.grouped_lookup_statements")
                .with_unit("{statement}")
                .with_description(
                    "Statements that answered them: grouped_lookups / \
                     grouped_lookup_statements is the mean number of lookups per statement.",
                )
                .with_callback(observing(|s| s.batches))
                .build(),
            _waiting: meter
                .u64_observable_gauge("aftersales.store.grouped_lookups_waiting")
                .with_unit("{lookup}")
                .with_description("Lookups queued for the next statement.")
                .with_callback(observing(|s| s.waiting))
                .build(),
        })
    }
}

impl GroupCommitMetrics {
    pub fn register(store: &Arc<dyn Store>) -> Self {
        let meter = opentelemetry::global::meter(METER);
        let observing = |read: fn(&aftersales_store::WriteStats) -> u64| {
            let store: Weak<dyn Store> = Arc::downgrade(store);
            move |observer: &dyn opentelemetry::metrics::AsyncInstrument<u64>| {
                if let Some(store) = store.upgrade() {
                    observer.observe(read(&store.write_stats()), &[]);
                }
            }
        };
        GroupCommitMetrics {
            _writes: meter
                .u64_observable_counter("aftersales.store.case_writes")
                .with_unit("{write}")
                .with_description("Case writes committed by the group commit.")
                .with_callback(observing(|s| s.writes))
                .build(),
            _batches: meter
                .u64_observable_counter("aftersales.store.write_batches")
                .with_unit("{transaction}")
                .with_description(
                    "Transactions that committed case writes: case_writes / write_batches is \
                     the mean number of writes sharing one commit.",
                )
                .with_callback(observing(|s| s.batches))
                .build(),
            _abandoned: meter
                .u64_observable_counter("aftersales.store.writes_abandoned")
                .with_unit("{write}")
                .with_description("Case writes left out because their caller stopped waiting.")
                .with_callback(observing(|s| s.abandoned))
                .build(),
            _pending: meter
                .u64_observable_gauge("aftersales.store.writes_pending")
                .with_unit("{write}")
                .with_description("Case writes queued or in a batch, waiting for their commit.")
                .with_callback(observing(|s| s.pending))
                .build(),
            _grouped_reads: GroupedReadMetrics::register(store),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersales_store::{ActiveDeadlineCount, OpenCaseCount};

    fn shown(rows: &[(u64, [KeyValue; 2])]) -> Vec<String> {
        rows.iter()
            .map(|(n, kv)| format!("{}/{}={n}", kv[0].value, kv[1].value))
            .collect()
    }

    /// A platform or state that empties reports 0 rather than disappearing.
    #[test]
    fn the_gauges_report_zero_for_what_they_saw_before() {
        let mut cache = GaugeCache::default();
        cache.update(&GaugeCounts {
            open_cases: vec![OpenCaseCount {
                platform: "taobao".into(),
                state: CaseState::AwaitingMerchant,
                count: 3,
            }],
            deadlines: vec![ActiveDeadlineCount {
                platform: "taobao".into(),
                due: 2,
                overdue: 1,
            }],
        });
        assert_eq!(shown(&cache.open_cases), ["taobao/awaiting_merchant=3"]);
        assert_eq!(
            shown(&cache.deadlines),
            ["taobao/due=2", "taobao/overdue=1"]
        );
        cache.update(&GaugeCounts {
            open_cases: vec![OpenCaseCount {
                platform: "jd".into(),
                state: CaseState::AwaitingBuyer,
                count: 1,
            }],
            deadlines: vec![],
        });
        assert_eq!(
            shown(&cache.open_cases),
            ["jd/awaiting_buyer=1", "taobao/awaiting_merchant=0"]
        );
        assert_eq!(
            shown(&cache.deadlines),
            ["taobao/due=0", "taobao/overdue=0"]
        );
    }
}
