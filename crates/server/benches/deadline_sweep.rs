//! The deadline engine against a database holding a million open deadlines.
//!
//! ```sh
//! cargo bench -p aftersales-server --bench deadline_sweep -- \
//!     [--backend sqlite|postgres|both] [--deadlines 1000000] [--due 1000] [--fire 20000] \
//!     [--keep]
//! ```
//!
//! For each backend, in a fresh database (SQLite file under the temp dir; PostgreSQL database
//! `aftersales_bench_<uuid>` on `AFTERSALES_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped at the end unless `--keep`):
//!
//! 1. **Seed** `--deadlines` open cases with one deadline each, in bulk SQL: one template case
//!    is built with the domain (`Case::open`: an unshipped refund-only Taobao case, whose only
//!    deadline is TB-04, auto-refund 2 days after opening, reminder 12 h before), serialised,
//!    and copied row by row with its tenant, shop, id, order id and times substituted, so each
//!    `body` matches its indexed columns and its `deadlines` row (checked on a sample against
//!    `Case::open` of the same values). Future deadlines are spread over days 1–30 from now,
//!    scattered across the table; exactly `--due` of them (spread evenly through the table)
//!    are already due. Then ANALYZE.
//! 2. **Idle sweep**: `claim_due_timers` and `next_timer_at` with `now` before every timer.
//! 3. **Due sweep**: one `claim_due_timers(limit = --due)` at the wall clock; its plan
//!    (PostgreSQL: `EXPLAIN (ANALYZE, BUFFERS)`, rolled back; SQLite: `EXPLAIN QUERY PLAN`).
//!    The due cases are then re-seeded as future ones, so the table holds `--deadlines`
//!    future deadlines again.
//! 4. **Fire**: `--fire` more cases seeded already due, fired by `DeadlineEngine::
//!    sweep_until_idle` (default options, system clock) through the real write path; then
//!    the idle sweep again, over the rows the firing rewrote.
//! 5. **Idle server**: the release `aftersales` binary on that database (nothing due), its
//!    memory and CPU over an idle window.
//!
//! Targets are printed PASS/FAIL but never fail the process; an error does (exit code 1).
//! The recorded figures are in docs/benchmarks.md.

#[path = "support/proc.rs"]
mod proc;
use proc::clock_ticks_per_second;

use aftersales_domain::event::Actor;
use aftersales_domain::{
    BoundedText, Case, CaseDraft, CaseId, CaseKind, CaseState, Fen, Fulfilment, OrderId,
    PlatformCode, PolicyRegistry, ShopId, SystemClock, TenantId,
};
use aftersales_platforms::AdapterRegistry;
use aftersales_server::{DeadlineEngine, EngineOptions, SweepReport};
use aftersales_store::scratch::ScratchDatabase;
use aftersales_store::{Store, TimerClaim, TimerKind};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures::FutureExt;
use sqlx::Connection;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(format!($($arg)*).into())
    };
}

// ---------------------------------------------------------------------------------------------
// Targets (docs/benchmarks.md states the same)

const TARGET_DUE_SWEEP: Duration = Duration::from_millis(100);
const TARGET_IDLE_SWEEP: Duration = Duration::from_millis(5);
const TARGET_FIRE_PER_SEC_SQLITE: f64 = 500.0;
const TARGET_FIRE_PER_SEC_POSTGRES: f64 = 500.0;
const TARGET_SERVER_RSS_KB: u64 = 200 * 1024;

/// Runs of each idle-sweep call; the median is reported.
const IDLE_RUNS: usize = 50;
/// Claim + release cycles of the due sweep after the first one.
const DUE_REPEATS: usize = 10;
/// Cases per seeding transaction.
const SEED_CHUNK: i64 = 100_000;
/// How long the server runs before, and then during, the measured idle window.
const SERVER_WARMUP: Duration = Duration::from_secs(10);
const SERVER_WINDOW: Duration = Duration::from_secs(10);

const DAY_S: i64 = 86_400;

// ---------------------------------------------------------------------------------------------
// The claim's SQL, copied for EXPLAIN from crates/store/src/sql.rs (`SELECT_DUE_EXPIRIES` and
// `claim_timers`), which are crate-private there. Keep in step with that file.

/// `SELECT_DUE_EXPIRIES`: `$3` = now (epoch ms), `$4` = limit.
const SELECT_DUE_EXPIRIES: &str = "SELECT tenant_id, case_id, position \
     FROM deadlines \
     WHERE state = 'active' AND due_at <= $3 \
       AND (lease_until IS NULL OR lease_until <= $3) \
     ORDER BY due_at LIMIT $4";

/// `SELECT_DUE_REMINDERS`: `$3` = now (epoch ms), `$4` = limit.
const SELECT_DUE_REMINDERS: &str = "SELECT tenant_id, case_id, position \
     FROM deadlines \
     WHERE state = 'active' AND reminded_at IS NULL AND remind_at <= $3 AND due_at > $3 \
       AND (lease_until IS NULL OR lease_until <= $3) \
     ORDER BY remind_at LIMIT $4";

/// `claim_timers(TimerKind::Expiry, lock)`: `$1` = owner, `$2` = lease until.
fn claim_expiries_sql(lock: &str) -> String {
    format!(
        "UPDATE deadlines SET lease_owner = $1, lease_until = $2 \
         WHERE (tenant_id, case_id, position) IN ({SELECT_DUE_EXPIRIES}{lock}) \
         RETURNING tenant_id, case_id, position, due_at AS at"
    )
}

/// The lock clause the PostgreSQL store appends to the select (crates/store/src/postgres.rs).
const PG_LOCK: &str = " FOR UPDATE SKIP LOCKED";

// ---------------------------------------------------------------------------------------------
// Arguments

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
struct Args {
    backends: Vec<Backend>,
    deadlines: i64,
    due: i64,
    fire: i64,
    /// Leave the database in place (for looking at it afterwards).
    keep: bool,
}

fn parse_args() -> Res<Args> {
    let mut args = Args {
        backends: vec![Backend::Sqlite, Backend::Postgres],
        deadlines: 1_000_000,
        due: 1_000,
        fire: 20_000,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    let number = |flag: &str, v: Option<String>| -> Res<i64> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        let n: i64 = v
            .replace(['_', ','], "")
            .parse()
            .map_err(|e| format!("{flag} {v}: {e}"))?;
        Ok(n)
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            // cargo bench passes `--bench` to a harness = false target.
            "--bench" => {}
            "--backend" => {
                args.backends = match it.next().as_deref() {
                    Some("sqlite") => vec![Backend::Sqlite],
                    Some("postgres") => vec![Backend::Postgres],
                    Some("both") => vec![Backend::Sqlite, Backend::Postgres],
                    other => bail!("--backend sqlite|postgres|both, not {other:?}"),
                }
            }
            "--deadlines" => args.deadlines = number("--deadlines", it.next())?,
            "--due" => args.due = number("--due", it.next())?,
            "--fire" => args.fire = number("--fire", it.next())?,
            "--keep" => args.keep = true,
            "-h" | "--help" => {
                println!(
                    "deadline_sweep [--backend sqlite|postgres|both] [--deadlines 1000000] \
                     [--due 1000] [--fire 20000] [--keep (do not drop the database)]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if args.due < 1 || args.fire < 1 || args.deadlines < args.due {
        bail!("need 1 <= --due <= --deadlines and --fire >= 1");
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// Report

/// One backend's figures, in the order they are printed, and its target verdicts.
#[derive(Debug, Default)]
struct Figures {
    backend: &'static str,
    rows: Vec<(String, String)>,
    targets: Vec<(String, String, bool)>,
    notes: Vec<String>,
    /// A correctness check failed: the figures measured something other than the work asked
    /// for, and the run exits non-zero.
    broken: bool,
}

impl Figures {
    fn add(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        println!("  {key}: {value}");
        self.rows.push((key.to_string(), value));
    }

    fn target(&mut self, what: &str, measured: String, pass: bool) {
        let verdict = if pass { "PASS" } else { "FAIL" };
        println!("  target {what}: {measured} -> {verdict}");
        self.targets.push((what.to_string(), measured, pass));
    }

    fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        println!("  note: {note}");
        self.notes.push(note);
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn thousands(n: impl Into<i128>) -> String {
    let s = n.into().to_string();
    let (sign, digits) = s.split_at(if s.starts_with('-') { 1 } else { 0 });
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

struct Stats {
    median: Duration,
    p95: Duration,
    min: Duration,
    max: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Stats {
        median: at(0.5),
        p95: at(0.95),
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn describe(s: &Stats) -> String {
    format!(
        "{} (p95 {}, min {}, max {})",
        ms(s.median),
        ms(s.p95),
        ms(s.min),
        ms(s.max)
    )
}

fn markdown_table(figures: &[Figures]) -> String {
    let mut keys: Vec<&str> = Vec::new();
    for f in figures {
        for (k, _) in &f.rows {
            if !keys.contains(&k.as_str()) {
                keys.push(k.as_str());
            }
        }
    }
    let mut out = String::from("| figure |");
    for f in figures {
        out.push_str(&format!(" {} |", f.backend));
    }
    out.push_str("\n|---|");
    for _ in figures {
        out.push_str("---|");
    }
    out.push('\n');
    for k in keys {
        out.push_str(&format!("| {k} |"));
        for f in figures {
            let v = f
                .rows
                .iter()
                .find(|(key, _)| key == k)
                .map_or("—", |(_, v)| v.as_str());
            out.push_str(&format!(" {} |", v.replace('|', "\\|")));
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Databases

/// A direct connection beside the store, for bulk seeding, EXPLAIN and counting.
enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// Runs `$body` with `$c` bound to whichever connection it is (`&mut` to it); both drivers
/// take the same calls.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Postgres($c) => $body,
        }
    };
}

impl Conn {
    async fn open(backend: Backend, url: &str) -> Res<Conn> {
        Ok(match backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .busy_timeout(Duration::from_secs(60))
                    .foreign_keys(true);
                let mut c = sqlx::SqliteConnection::connect_with(&options).await?;
                // Seeding only: a big page cache for the random index inserts. The store's
                // own connections keep their settings (WAL, synchronous=FULL).
                sqlx::query("PRAGMA cache_size = -262144")
                    .execute(&mut c)
                    .await?;
                Conn::Sqlite(c)
            }
            Backend::Postgres => Conn::Postgres(sqlx::PgConnection::connect(url).await?),
        })
    }

    async fn exec(&mut self, sql: &str) -> Res<u64> {
        Ok(on_conn!(self, |c| sqlx::query(sql)
            .execute(&mut *c)
            .await?
            .rows_affected()))
    }

    async fn scalar(&mut self, sql: &str) -> Res<i64> {
        Ok(on_conn!(self, |c| sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut *c)
            .await?))
    }

    /// The statements in one transaction; `$1`, where a statement has it, is `template`.
    async fn exec_with_template(&mut self, statements: &[String], template: &str) -> Res<u64> {
        let mut n = 0;
        on_conn!(self, |c| {
            let mut tx = c.begin().await?;
            for s in statements {
                let mut q = sqlx::query(s);
                if s.contains("$1") {
                    q = q.bind(template);
                }
                n += q.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        });
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding

/// The template case: built once with the domain, serialised, with its per-case values
/// replaced by markers the seeding SQL substitutes.
struct Template {
    /// The case body with `@TENANT@`, `@SHOP@`, `@CASEID@`, `@ORDER@`, `@OPENED@`, `@DUE@`,
    /// `@REMIND@` (the times as `"…Z"` strings, whole seconds, as serde writes them).
    body: String,
    platform: String,
    kind: &'static str,
    state: &'static str,
    key: String,
    rule_id: String,
    due_party: String,
    consequence: &'static str,
    source: String,
    deadline_state: &'static str,
    /// due_at − opened_at and due_at − remind_at, seconds.
    due_after_s: i64,
    remind_before_s: i64,
}

const T_TENANT: &str = "tplxtenant";
const T_SHOP: &str = "tplxshop";
const T_CASEID: &str = "TPLXCASEID";
const T_ORDER: &str = "TPLXORDER";

/// An unshipped refund-only Taobao case: exactly one deadline (TB-04, auto-refund).
fn open_case(
    policies: &PolicyRegistry,
    tenant: &str,
    shop: &str,
    id: &str,
    order: &str,
    opened: DateTime<Utc>,
) -> Res<Case> {
    let taobao = PlatformCode::parse("taobao")?;
    let policy = policies
        .in_force(&taobao, opened)
        .ok_or("no Taobao policy in force")?;
    let draft = CaseDraft {
        order_id: Some(OrderId::parse(order)?),
        ..CaseDraft::new(
            ShopId::parse(shop)?,
            taobao.clone(),
            CaseKind::RefundOnly,
            Fulfilment::NotShipped,
            Fen::new(1990).map_err(|e| format!("{e:?}"))?,
            BoundedText::parse("不想要了 / no longer needed").map_err(|e| format!("{e:?}"))?,
            BoundedText::parse("tb_buyer").map_err(|e| format!("{e:?}"))?,
        )
    };
    let change = Case::open(
        CaseId::parse(id)?,
        TenantId::parse(tenant)?,
        draft,
        policy,
        Actor::merchant("bench"),
        opened,
        &[],
    )
    .map_err(|e| format!("Case::open: {e}"))?;
    Ok(change.case)
}

fn rfc3339(t: DateTime<Utc>) -> Res<String> {
    Ok(serde_json::to_string(&t)?)
}

/// A unit enum's serde name (what the store writes for it).
fn serde_name(v: serde_json::Result<serde_json::Value>) -> Res<String> {
    match v? {
        serde_json::Value::String(s) => Ok(s),
        other => bail!("expected a string, got {other}"),
    }
}

fn build_template(policies: &PolicyRegistry) -> Res<Template> {
    let opened = DateTime::parse_from_rfc3339("2024-06-06T06:06:06Z")?.with_timezone(&Utc);
    let case = open_case(policies, T_TENANT, T_SHOP, T_CASEID, T_ORDER, opened)?;
    if case.deadlines.len() != 1 || case.platform_case_id.is_some() {
        bail!(
            "the template case should have exactly one deadline and no platform case id: {:?}",
            case.deadlines
        );
    }
    let d = &case.deadlines[0];
    let remind = d.remind_at.ok_or("the template deadline has no reminder")?;
    if case.created_at != opened || case.updated_at != opened || d.started_at != opened {
        bail!("the template case's times are not its opening time");
    }
    let mut body = serde_json::to_string(&case)?;
    if body.contains('@') {
        bail!("the template body already contains '@'");
    }
    for (value, marker) in [
        (format!("\"{T_TENANT}\""), "\"@TENANT@\""),
        (format!("\"{T_SHOP}\""), "\"@SHOP@\""),
        (format!("\"{T_CASEID}\""), "\"@CASEID@\""),
        (format!("\"{T_ORDER}\""), "\"@ORDER@\""),
        (rfc3339(opened)?, "\"@OPENED@\""),
        (rfc3339(d.due_at)?, "\"@DUE@\""),
        (rfc3339(remind)?, "\"@REMIND@\""),
    ] {
        if !body.contains(&value) {
            bail!("the template body has no {value}: {body}");
        }
        body = body.replace(&value, marker);
    }
    // Anything else that varied per case would show in check_seeded's byte comparison.
    if body.contains("tplx") || body.contains("TPLX") {
        bail!("the template body holds a value the seeding would not substitute: {body}");
    }
    let t = Template {
        body,
        platform: case.platform.as_str().to_string(),
        kind: case.kind.as_str(),
        state: case.state.as_str(),
        key: d.key.clone(),
        rule_id: d.rule_id.clone(),
        due_party: serde_name(serde_json::to_value(d.due_party))?,
        consequence: d.consequence.as_str(),
        source: serde_name(serde_json::to_value(d.source))?,
        deadline_state: d.state.as_str(),
        due_after_s: (d.due_at - opened).num_seconds(),
        remind_before_s: (d.due_at - remind).num_seconds(),
    };
    for s in [&t.platform, &t.key, &t.rule_id, &t.due_party, &t.source] {
        if s.contains('\'') {
            bail!("a template value with a quote: {s}");
        }
    }
    Ok(t)
}

/// Which deadlines are due, and when: the same arithmetic in SQL (for seeding) and in Rust
/// (for checking what was seeded). All in whole seconds.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// `--deadlines`: cases `n` in `0..total` are the main population.
    total: i64,
    /// `--due`: of those, `n = k * stride` for `k < due` are due.
    due: i64,
    stride: i64,
    /// The seeding instant.
    epoch_s: i64,
}

/// How a seeded row's due time is chosen.
#[derive(Debug, Clone, Copy)]
enum DueRule {
    /// The main population: due ones in the past, the rest spread over days 1–30.
    Initial,
    /// Every row in the future (re-seeding the due ones after the due sweep).
    Future,
    /// Already due: `n - total` seconds before `epoch_s - 2 h` (the fire population).
    Past { epoch_s: i64 },
}

impl Layout {
    fn new(total: i64, due: i64, epoch_s: i64) -> Layout {
        Layout {
            total,
            due,
            stride: (total / due).max(1),
            epoch_s,
        }
    }

    fn is_due(&self, n: i64) -> bool {
        n % self.stride == 0 && n / self.stride < self.due
    }

    fn future_s(&self, n: i64) -> i64 {
        self.epoch_s + DAY_S + ((n * 7919) % self.total) * (29 * DAY_S) / self.total
    }

    fn due_s(&self, rule: DueRule, n: i64) -> i64 {
        match rule {
            DueRule::Initial if self.is_due(n) => self.epoch_s - 3600 - n / self.stride,
            DueRule::Initial | DueRule::Future => self.future_s(n),
            DueRule::Past { epoch_s } => epoch_s - 7200 - (n - self.total),
        }
    }

    fn due_sql(&self, rule: DueRule) -> String {
        let Layout {
            total,
            due,
            stride,
            epoch_s,
        } = *self;
        let future = format!(
            "({epoch_s} + {DAY_S} + ((n * 7919) % {total}) * {} / {total})",
            29 * DAY_S
        );
        match rule {
            DueRule::Initial => format!(
                "CASE WHEN n % {stride} = 0 AND n / {stride} < {due} \
                 THEN {epoch_s} - 3600 - n / {stride} ELSE {future} END"
            ),
            DueRule::Future => future,
            DueRule::Past { epoch_s } => format!("({epoch_s} - 7200 - (n - {total}))"),
        }
    }
}

fn tenant_of(n: i64) -> String {
    format!("bench-{}", n % 4)
}
fn shop_of(n: i64) -> String {
    format!("shop-{}", n % 32)
}
fn case_id_of(n: i64) -> String {
    format!("00000000-0000-7000-8000-{n:012x}")
}
fn order_of(n: i64) -> String {
    format!("o-{n}")
}

/// The dialect-specific pieces of the seeding SQL.
fn series_sql(backend: Backend, start: i64, count: i64, step: i64) -> String {
    match backend {
        Backend::Postgres => format!(
            "(SELECT {start}::bigint + {step}::bigint * i AS n \
             FROM generate_series(0::bigint, {count}::bigint - 1) AS g(i))"
        ),
        Backend::Sqlite => format!(
            "(WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < {count}) \
             SELECT {start} + {step} * i AS n FROM g)"
        ),
    }
}

fn ts_sql(backend: Backend, seconds: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "to_char(to_timestamp({seconds}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        ),
        Backend::Sqlite => format!("strftime('%Y-%m-%dT%H:%M:%SZ', {seconds}, 'unixepoch')"),
    }
}

fn case_id_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "'00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0')",
        Backend::Sqlite => "'00000000-0000-7000-8000-' || printf('%012x', n)",
    }
}

/// The rows of one seeding step: `n` from the series, its keys and its due time (seconds).
fn source_sql(backend: Backend, series: &str, due: &str) -> String {
    format!(
        "(SELECT n, 'bench-' || (n % 4) AS tenant, 'shop-' || (n % 32) AS shop, \
                 {id} AS id, 'o-' || n AS ord, {due} AS due_s \
          FROM {series} AS s) AS src",
        id = case_id_sql(backend)
    )
}

/// INSERT … SELECT of the cases and their deadline rows for one series (`$1` = template).
fn seed_statements(backend: Backend, t: &Template, series: &str, due: &str) -> Vec<String> {
    let src = source_sql(backend, series, due);
    let opened_s = format!("(due_s - {})", t.due_after_s);
    let remind_s = format!("(due_s - {})", t.remind_before_s);
    let body = format!(
        "replace(replace(replace(replace(replace(replace(replace($1, \
           '\"@TENANT@\"', '\"' || tenant || '\"'), \
           '\"@SHOP@\"', '\"' || shop || '\"'), \
           '\"@CASEID@\"', '\"' || id || '\"'), \
           '\"@ORDER@\"', '\"' || ord || '\"'), \
           '\"@OPENED@\"', '\"' || {opened} || '\"'), \
           '\"@DUE@\"', '\"' || {due_ts} || '\"'), \
           '\"@REMIND@\"', '\"' || {remind} || '\"')",
        opened = ts_sql(backend, &opened_s),
        due_ts = ts_sql(backend, "due_s"),
        remind = ts_sql(backend, &remind_s),
    );
    let cases = format!(
        "INSERT INTO cases (tenant_id, id, shop_id, platform, platform_case_id, kind, state, \
           next_deadline_at, platform_version, version, created_at, updated_at, order_id, \
           sub_order_id, body) \
         SELECT tenant, id, shop, '{platform}', NULL, '{kind}', '{state}', due_s * 1000, NULL, 1, \
           {opened_s} * 1000, {opened_s} * 1000, ord, NULL, {body} \
         FROM {src}",
        platform = t.platform,
        kind = t.kind,
        state = t.state,
    );
    let deadlines = format!(
        "INSERT INTO deadlines (tenant_id, case_id, position, key, rule_id, due_party, due_at, \
           remind_at, consequence, source, state, shop_id, platform, reminded_at, lease_owner, \
           lease_until) \
         SELECT tenant, id, 0, '{key}', '{rule}', '{party}', due_s * 1000, {remind_s} * 1000, \
           '{consequence}', '{source}', '{dstate}', shop, '{platform}', NULL, NULL, NULL \
         FROM {src}",
        key = t.key,
        rule = t.rule_id,
        party = t.due_party,
        consequence = t.consequence,
        source = t.source,
        dstate = t.deadline_state,
        platform = t.platform,
    );
    vec![cases, deadlines]
}

/// Compare seeded rows with what `Case::open` of the same values gives: the body byte for byte,
/// the indexed columns, the deadline row. Also reads each through the store.
#[allow(clippy::too_many_arguments)]
async fn check_seeded(
    conn: &mut Conn,
    store: &Arc<dyn Store>,
    policies: &PolicyRegistry,
    t: &Template,
    layout: &Layout,
    rule: DueRule,
    ns: &[i64],
) -> Res<()> {
    type Row = (
        String,
        Option<i64>,
        i64,
        i64,
        i64,
        Option<i64>,
        String,
        Option<String>,
        i64,
        Option<String>,
        Option<String>,
    );
    // The version and the order line are what a later write's UPDATE matches the row by.
    let sql = "SELECT c.body, c.next_deadline_at, c.created_at, c.updated_at, d.due_at, \
                      d.remind_at, d.state, d.shop_id, c.version, c.order_id, c.sub_order_id \
               FROM cases c JOIN deadlines d ON d.tenant_id = c.tenant_id AND d.case_id = c.id \
               WHERE c.tenant_id = $1 AND c.id = $2";
    for &n in ns {
        let (tenant, id) = (tenant_of(n), case_id_of(n));
        let rows: Vec<Row> = on_conn!(conn, |c| sqlx::query_as::<_, Row>(sql)
            .bind(&tenant)
            .bind(&id)
            .fetch_all(&mut *c)
            .await?);
        if rows.len() != 1 {
            bail!("case n={n}: {} deadline rows, expected 1", rows.len());
        }
        let (body, next, created, updated, due_at, remind_at, state, shop, version, order, sub) =
            &rows[0];
        let due_s = layout.due_s(rule, n);
        let opened = DateTime::from_timestamp(due_s - t.due_after_s, 0).ok_or("time")?;
        let expected = open_case(policies, &tenant, &shop_of(n), &id, &order_of(n), opened)?;
        let expected_body = serde_json::to_string(&expected)?;
        if body != &expected_body {
            bail!("case n={n}: the seeded body differs from Case::open\n seeded:   {body}\n expected: {expected_body}");
        }
        let d = &expected.deadlines[0];
        let want = (
            expected.next_deadline_at().map(|t| t.timestamp_millis()),
            expected.created_at.timestamp_millis(),
            expected.updated_at.timestamp_millis(),
            d.due_at.timestamp_millis(),
            d.remind_at.map(|t| t.timestamp_millis()),
            d.state.as_str(),
            Some(expected.shop.as_str()),
            expected.version,
            expected.order_id.as_ref().map(|o| o.as_str()),
            expected.sub_order_id.as_ref().map(|o| o.as_str()),
        );
        let got = (
            *next,
            *created,
            *updated,
            *due_at,
            *remind_at,
            state.as_str(),
            shop.as_deref(),
            *version,
            order.as_deref(),
            sub.as_deref(),
        );
        if want != got {
            bail!("case n={n}: columns {got:?}, expected {want:?}");
        }
        if due_at / 1000 != due_s {
            bail!("case n={n}: due {due_at} ms, expected {due_s} s");
        }
        let read = store
            .case(&TenantId::parse(&tenant)?, &CaseId::parse(&id)?)
            .await?
            .ok_or_else(|| format!("case n={n} not found through the store"))?;
        if serde_json::to_string(&read)? != expected_body {
            bail!("case n={n}: the store reads a different case");
        }
    }
    Ok(())
}

/// A deterministic sample of `0..total`: the ends, some due rows, some scattered rows.
fn sample(layout: &Layout, count: usize) -> Vec<i64> {
    let mut s = BTreeSet::new();
    s.insert(0);
    s.insert(layout.total - 1);
    for k in [0, layout.due / 2, layout.due - 1] {
        s.insert(k * layout.stride);
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while s.len() < count.min(layout.total as usize) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.insert((x % layout.total as u64) as i64);
    }
    s.into_iter().collect()
}

async fn db_size(conn: &mut Conn, backend: Backend) -> Res<Vec<(String, u64)>> {
    Ok(match backend {
        Backend::Postgres => {
            let mut out = vec![(
                "database".to_string(),
                conn.scalar("SELECT pg_database_size(current_database())")
                    .await? as u64,
            )];
            for table in ["cases", "deadlines"] {
                let q = format!("SELECT pg_total_relation_size('{table}')");
                out.push((
                    format!("{table} (with indexes)"),
                    conn.scalar(&q).await? as u64,
                ));
            }
            out
        }
        Backend::Sqlite => {
            let pages = conn.scalar("PRAGMA page_count").await?;
            let size = conn.scalar("PRAGMA page_size").await?;
            vec![("database".to_string(), (pages * size) as u64)]
        }
    })
}

// ---------------------------------------------------------------------------------------------
// EXPLAIN

/// What a PostgreSQL plan says about rows and buffers.
struct PgPlan {
    summary: String,
    indexes: Vec<String>,
    seq_scans: Vec<String>,
    top_rows: i64,
    scanned_rows: i64,
    removed_rows: i64,
    hit: i64,
    read: i64,
    dirtied: i64,
    execution_ms: f64,
}

fn walk_pg_plan(node: &serde_json::Value, depth: usize, p: &mut PgPlan, lines: &mut Vec<String>) {
    let s = |k: &str| node.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let i = |k: &str| node.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
    let f = |k: &str| node.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
    let kind = s("Node Type");
    let mut line = format!("{}{kind}", "  ".repeat(depth));
    if !s("Index Name").is_empty() {
        line.push_str(&format!(" using {}", s("Index Name")));
        p.indexes.push(s("Index Name").to_string());
    }
    if !s("Relation Name").is_empty() {
        line.push_str(&format!(" on {}", s("Relation Name")));
    }
    if kind == "Seq Scan" {
        p.seq_scans.push(s("Relation Name").to_string());
    }
    let rows = (f("Actual Rows") * f("Actual Loops").max(1.0)).round() as i64;
    let removed = (i("Rows Removed by Filter") + i("Rows Removed by Index Recheck"))
        * i("Actual Loops").max(1);
    line.push_str(&format!(
        " (rows={rows}, loops={}, removed={removed}, hit={}, read={})",
        i("Actual Loops"),
        i("Shared Hit Blocks"),
        i("Shared Read Blocks")
    ));
    if kind.contains("Scan") && s("Relation Name") == "deadlines" {
        p.scanned_rows += rows + removed;
        p.removed_rows += removed;
    }
    lines.push(line);
    if let Some(children) = node.get("Plans").and_then(|v| v.as_array()) {
        for c in children {
            walk_pg_plan(c, depth + 1, p, lines);
        }
    }
}

async fn pg_explain(conn: &mut sqlx::PgConnection, statement: &str) -> Res<PgPlan> {
    use sqlx::Row;
    let mut tx = conn.begin().await?;
    let row = sqlx::query(&format!(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}"
    ))
    .fetch_one(&mut *tx)
    .await?;
    tx.rollback().await?;
    // The column is `json`; its wire form is the text.
    let text: String = row.try_get_unchecked(0)?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let top = &json[0];
    let plan = &top["Plan"];
    let mut p = PgPlan {
        summary: String::new(),
        indexes: Vec::new(),
        seq_scans: Vec::new(),
        top_rows: plan["Actual Rows"].as_f64().unwrap_or(0.0).round() as i64,
        scanned_rows: 0,
        removed_rows: 0,
        hit: plan["Shared Hit Blocks"].as_i64().unwrap_or(0),
        read: plan["Shared Read Blocks"].as_i64().unwrap_or(0),
        dirtied: plan["Shared Dirtied Blocks"].as_i64().unwrap_or(0),
        execution_ms: top["Execution Time"].as_f64().unwrap_or(0.0),
    };
    let mut lines = Vec::new();
    walk_pg_plan(plan, 0, &mut p, &mut lines);
    p.summary = lines.join("\n");
    Ok(p)
}

async fn sqlite_plan(
    conn: &mut sqlx::SqliteConnection,
    statement: &str,
    binds: [i64; 4],
) -> Res<Vec<String>> {
    let explain = format!("EXPLAIN QUERY PLAN {statement}");
    let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
    for b in binds {
        q = q.bind(b);
    }
    Ok(q.fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| r.3)
        .collect())
}

/// Explain the expiry claim at `now` with `limit` into `fig` under `label`: the SELECT always,
/// the whole claim UPDATE too when `update` (PostgreSQL: EXPLAIN ANALYZE, rolled back).
async fn explain_claim(
    conn: &mut Conn,
    fig: &mut Figures,
    label: &str,
    now: DateTime<Utc>,
    limit: i64,
    update: bool,
) -> Res<()> {
    let now_ms = now.timestamp_millis();
    let lease_ms = (now + ChronoDuration::seconds(30)).timestamp_millis();
    let literal = |sql: &str| {
        sql.replace("$1", "'bench-explain'")
            .replace("$2", &lease_ms.to_string())
            .replace("$3", &now_ms.to_string())
            .replace("$4", &limit.to_string())
    };
    match conn {
        Conn::Postgres(c) => {
            let select = literal(&format!("{SELECT_DUE_EXPIRIES}{PG_LOCK}"));
            let p = pg_explain(c, &select).await?;
            println!("  EXPLAIN ANALYZE of the expiry-claim SELECT, limit {limit} (rolled back):");
            for l in p.summary.lines() {
                println!("    {l}");
            }
            fig.add(
                &format!("{label} SELECT: plan"),
                p.summary
                    .lines()
                    .map(str::trim)
                    .map(|l| l.split(" (").next().unwrap_or(l).to_string())
                    .collect::<Vec<_>>()
                    .join(" → "),
            );
            fig.add(&format!("{label} SELECT: index used"), p.indexes.join(", "));
            fig.add(
                &format!("{label} SELECT: rows returned / deadline rows read (of which discarded)"),
                format!(
                    "{} / {} ({})",
                    thousands(p.top_rows),
                    thousands(p.scanned_rows),
                    thousands(p.removed_rows)
                ),
            );
            fig.add(
                &format!("{label} SELECT: shared buffers hit / read / dirtied"),
                format!("{} / {} / {}", p.hit, p.read, p.dirtied),
            );
            fig.add(
                &format!("{label} SELECT: execution time (EXPLAIN ANALYZE)"),
                format!("{:.3} ms", p.execution_ms),
            );
            if !p.seq_scans.is_empty() {
                fig.note(format!(
                    "the {label} SELECT has a sequential scan of {:?}",
                    p.seq_scans
                ));
            }
            if update {
                let u = pg_explain(c, &literal(&claim_expiries_sql(PG_LOCK))).await?;
                println!("  EXPLAIN ANALYZE of the whole claim UPDATE (rolled back):");
                for l in u.summary.lines() {
                    println!("    {l}");
                }
                fig.add(
                    &format!("{label} whole UPDATE: indexes used"),
                    u.indexes.join(", "),
                );
                fig.add(
                    &format!("{label} whole UPDATE: rows / shared buffers hit / read / dirtied"),
                    format!(
                        "{} / {} / {} / {}",
                        thousands(u.top_rows),
                        u.hit,
                        u.read,
                        u.dirtied
                    ),
                );
                fig.add(
                    &format!("{label} whole UPDATE: sequential scans"),
                    if u.seq_scans.is_empty() {
                        "none".to_string()
                    } else {
                        u.seq_scans.join(", ")
                    },
                );
            }
        }
        Conn::Sqlite(c) => {
            let binds = [0, lease_ms, now_ms, limit];
            let scans = |plan: &[String]| {
                plan.iter()
                    .any(|s| s == "SCAN deadlines" || s.starts_with("SCAN deadlines "))
            };
            let select_plan = sqlite_plan(c, SELECT_DUE_EXPIRIES, binds).await?;
            println!("  EXPLAIN QUERY PLAN of the expiry-claim SELECT: {select_plan:?}");
            fig.add(&format!("{label} SELECT: plan"), select_plan.join("; "));
            let mut scanned = scans(&select_plan);
            if update {
                let update_plan = sqlite_plan(c, &claim_expiries_sql(""), binds).await?;
                println!("  EXPLAIN QUERY PLAN of the whole claim UPDATE: {update_plan:?}");
                fig.add(
                    &format!("{label} whole UPDATE: plan"),
                    update_plan.join("; "),
                );
                scanned |= scans(&update_plan);
            }
            fig.add(
                &format!("{label}: full SCAN of deadlines in the plan"),
                if scanned { "YES" } else { "no" },
            );
            let t0 = Instant::now();
            let rows: Vec<(String, String, i64)> = sqlx::query_as(SELECT_DUE_EXPIRIES)
                .bind(binds[0])
                .bind(binds[1])
                .bind(binds[2])
                .bind(binds[3])
                .fetch_all(&mut *c)
                .await?;
            fig.add(
                &format!("{label} SELECT: rows returned / time"),
                format!("{} / {}", thousands(rows.len() as i64), ms(t0.elapsed())),
            );
        }
    }
    Ok(())
}

/// `IDLE_RUNS` times (after 3 warm-up runs) one idle iteration of the sweep loop at `now`,
/// when nothing is due: `claim_due_timers` (must claim nothing), then `next_timer_at` (must
/// say `next`). Returns the claim, next_timer_at and per-iteration times.
async fn idle_sweep(
    store: &Arc<dyn Store>,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
) -> Res<(Stats, Stats, Stats)> {
    let claim = TimerClaim {
        owner: "bench-idle".to_string(),
        now,
        lease_until: now + ChronoDuration::seconds(30),
        limit: 512,
    };
    let (mut claims, mut nexts, mut sums) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..IDLE_RUNS + 3 {
        let t0 = Instant::now();
        let got = store.claim_due_timers(&claim).await?;
        let t1 = Instant::now();
        let n = store.next_timer_at().await?;
        let t2 = Instant::now();
        if !got.is_empty() || n != Some(next) {
            bail!("idle sweep claimed {} timers / next {n:?}", got.len());
        }
        // The first runs warm the statement caches.
        if run >= 3 {
            claims.push(t1 - t0);
            nexts.push(t2 - t1);
            sums.push(t2 - t0);
        }
    }
    Ok((stats(claims), stats(nexts), stats(sums)))
}

// ---------------------------------------------------------------------------------------------
// /proc

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    proc::cpu_ticks(&pid.to_string())
}

async fn pg_backend_pids(admin: &mut sqlx::PgConnection, db: &str) -> Res<BTreeSet<u32>> {
    let pids: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
        .bind(db)
        .fetch_all(&mut *admin)
        .await?;
    Ok(pids.into_iter().map(|p| p as u32).collect())
}

/// Transactions, tuples returned + fetched, buffers hit + read in the database so far.
async fn pg_db_counters(admin: &mut sqlx::PgConnection, db: &str) -> Res<(i64, i64, i64)> {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *admin)
        .await?;
    Ok(sqlx::query_as(
        "SELECT (xact_commit + xact_rollback)::bigint, (tup_returned + tup_fetched)::bigint, \
                (blks_hit + blks_read)::bigint \
         FROM pg_stat_database WHERE datname = $1",
    )
    .bind(db)
    .fetch_one(&mut *admin)
    .await?)
}

// ---------------------------------------------------------------------------------------------
// The steps

async fn run_backend(backend: Backend, args: &Args) -> Res<Figures> {
    let (db, url) =
        ScratchDatabase::fresh(backend == Backend::Postgres, "aftersales_bench").await?;
    let outcome = std::panic::AssertUnwindSafe(run_steps(backend, args, &db, &url))
        .catch_unwind()
        .await;
    if args.keep {
        println!("kept the {} database: {url}", backend.name());
    } else {
        if let Err(e) = db.drop_now().await {
            eprintln!("{e}");
        }
    }
    match outcome {
        Ok(r) => r,
        Err(_) => bail!("{} run panicked", backend.name()),
    }
}

async fn run_steps(backend: Backend, args: &Args, db: &ScratchDatabase, url: &str) -> Res<Figures> {
    let mut fig = Figures {
        backend: backend.name(),
        ..Figures::default()
    };
    println!("\n=== {} ===", backend.name());
    let policies = AdapterRegistry::builtin().load_policies()?;
    let template = build_template(&policies)?;

    // 1. Schema and seeding.
    let store = aftersales_store::connect(url, 16).await?;
    let mut conn = Conn::open(backend, url).await?;
    let layout = Layout::new(args.deadlines, args.due, Utc::now().timestamp());
    println!(
        "seeding {} cases with one deadline each ({} due) …",
        thousands(args.deadlines),
        thousands(args.due)
    );
    let started = Instant::now();
    let mut start = 0;
    while start < layout.total {
        let count = SEED_CHUNK.min(layout.total - start);
        let series = series_sql(backend, start, count, 1);
        let statements = seed_statements(
            backend,
            &template,
            &series,
            &layout.due_sql(DueRule::Initial),
        );
        let rows = conn.exec_with_template(&statements, &template.body).await?;
        if rows != 2 * count as u64 {
            bail!("seeding {start}..{}: {rows} rows inserted", start + count);
        }
        start += count;
        println!(
            "  {} / {} ({})",
            thousands(start),
            thousands(layout.total),
            secs(started.elapsed())
        );
    }
    let seed_time = started.elapsed();
    let analyze_started = Instant::now();
    conn.exec("ANALYZE").await?;
    if backend == Backend::Sqlite {
        conn.exec("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    }
    let analyze_time = analyze_started.elapsed();
    check_seeded(
        &mut conn,
        &store,
        &policies,
        &template,
        &layout,
        DueRule::Initial,
        &sample(&layout, 200),
    )
    .await?;
    let active = conn
        .scalar("SELECT COUNT(*) FROM deadlines WHERE state = 'active'")
        .await?;
    let due_now = conn
        .scalar(&format!(
            "SELECT COUNT(*) FROM deadlines WHERE state = 'active' AND due_at <= {}",
            Utc::now().timestamp_millis()
        ))
        .await?;
    if active != layout.total || due_now != layout.due {
        bail!(
            "seeded {active} active deadlines, {due_now} due; expected {} and {}",
            layout.total,
            layout.due
        );
    }
    println!("1. seeded (200 sampled cases match Case::open byte for byte)");
    fig.add(
        "open deadlines seeded (due now)",
        format!("{} ({})", thousands(active), thousands(due_now)),
    );
    fig.add(
        "seeding time (bulk SQL)",
        format!(
            "{} ({:.0} cases/s)",
            secs(seed_time),
            layout.total as f64 / seed_time.as_secs_f64()
        ),
    );
    fig.add("ANALYZE time", secs(analyze_time));
    for (what, bytes) in db_size(&mut conn, backend).await? {
        fig.add(&format!("size: {what}"), mib(bytes));
    }

    // 2. Idle sweep: nothing due at `now`.
    let next = store
        .next_timer_at()
        .await?
        .ok_or("no timer after seeding")?;
    let (claims, nexts, sums) =
        idle_sweep(&store, next - ChronoDuration::seconds(60), next).await?;
    println!("2. idle sweep ({IDLE_RUNS} runs, now = next timer − 60 s)");
    fig.add("idle claim_due_timers, median", describe(&claims));
    fig.add("idle next_timer_at, median", describe(&nexts));
    fig.add(
        "idle sweep (claim + next_timer_at), median",
        ms(sums.median),
    );
    fig.target(
        "idle sweep < 5 ms (median of claim + next_timer_at)",
        ms(sums.median),
        sums.median < TARGET_IDLE_SWEEP,
    );

    // 3. One due sweep: `due` of `total` due.
    let now = Utc::now();
    let limit = args.due;
    println!(
        "3. due sweep: claim_due_timers(limit = {}) with {} of {} due",
        thousands(limit),
        thousands(layout.due),
        thousands(layout.total)
    );
    explain_claim(&mut conn, &mut fig, "due-claim", now, limit, true).await?;
    let mut due_claims = Vec::new();
    let mut claimed_first = 0;
    for round in 0..=DUE_REPEATS {
        let now = Utc::now();
        let claim = TimerClaim {
            owner: format!("bench-due-{round}"),
            now,
            lease_until: now + ChronoDuration::seconds(30),
            limit: limit as u32,
        };
        let t0 = Instant::now();
        let got = store.claim_due_timers(&claim).await?;
        due_claims.push(t0.elapsed());
        if got.len() as i64 != layout.due || got.iter().any(|t| t.kind != TimerKind::Expiry) {
            bail!(
                "the due sweep claimed {} timers, expected {} expiries",
                got.len(),
                layout.due
            );
        }
        if round == 0 {
            claimed_first = got.len();
        }
        store.release_timers(&claim.owner, &got).await?;
    }
    let first = due_claims[0];
    let repeats = stats(due_claims[1..].to_vec());
    fig.add(
        "one due sweep: claim_due_timers time (first run)",
        format!(
            "{} ({} claimed)",
            ms(first),
            thousands(claimed_first as i64)
        ),
    );
    fig.add(
        &format!("due sweep, {DUE_REPEATS} more claim + release cycles, median"),
        describe(&repeats),
    );
    fig.target(
        &format!(
            "one due-sweep of {} among {} < 100 ms (first run)",
            thousands(layout.due),
            thousands(layout.total)
        ),
        ms(first),
        first < TARGET_DUE_SWEEP,
    );

    // Re-seed the due cases as future ones: the table again holds `total` future deadlines.
    let reseed = series_sql(backend, 0, layout.due, layout.stride);
    let keys = format!(
        "SELECT tenant, id FROM {}",
        source_sql(backend, &reseed, "0")
    );
    let deleted = conn
        .exec_with_template(
            &[
                format!("DELETE FROM deadlines WHERE (tenant_id, case_id) IN ({keys})"),
                format!("DELETE FROM cases WHERE (tenant_id, id) IN ({keys})"),
            ],
            &template.body,
        )
        .await?;
    let inserted = conn
        .exec_with_template(
            &seed_statements(
                backend,
                &template,
                &reseed,
                &layout.due_sql(DueRule::Future),
            ),
            &template.body,
        )
        .await?;
    if deleted != 2 * layout.due as u64 || inserted != 2 * layout.due as u64 {
        bail!("re-seeding the due cases: {deleted} rows deleted, {inserted} inserted");
    }
    let due_ns: Vec<i64> = (0..layout.due.min(50)).map(|k| k * layout.stride).collect();
    check_seeded(
        &mut conn,
        &store,
        &policies,
        &template,
        &layout,
        DueRule::Future,
        &due_ns,
    )
    .await?;

    // 4. Fire throughput through the real write path.
    let fire_epoch = Utc::now().timestamp();
    let fire_rule = DueRule::Past {
        epoch_s: fire_epoch,
    };
    let fire_started = Instant::now();
    conn.exec_with_template(
        &seed_statements(
            backend,
            &template,
            &series_sql(backend, layout.total, args.fire, 1),
            &layout.due_sql(fire_rule),
        ),
        &template.body,
    )
    .await?;
    let fire_seed_time = fire_started.elapsed();
    let fire_ns: Vec<i64> = [0, args.fire / 2, args.fire - 1]
        .iter()
        .map(|i| layout.total + i)
        .collect();
    check_seeded(
        &mut conn, &store, &policies, &template, &layout, fire_rule, &fire_ns,
    )
    .await?;
    let due_before = conn
        .scalar(&format!(
            "SELECT COUNT(*) FROM deadlines WHERE state = 'active' AND due_at <= {}",
            Utc::now().timestamp_millis()
        ))
        .await?;
    if due_before != args.fire {
        bail!(
            "{due_before} deadlines due before the fire step, expected {}",
            args.fire
        );
    }
    let refunded_sql = format!(
        "SELECT COUNT(*) FROM cases WHERE state = '{}'",
        CaseState::Refunded.as_str()
    );
    let refunded_before = conn.scalar(&refunded_sql).await?;
    let options = EngineOptions::default();
    println!(
        "4. fire: {} due cases seeded in {}; the first batch's claim:",
        thousands(args.fire),
        secs(fire_seed_time)
    );
    explain_claim(
        &mut conn,
        &mut fig,
        &format!("fire backlog ({} due), first batch", thousands(args.fire)),
        Utc::now(),
        i64::from(options.batch),
        false,
    )
    .await?;
    println!("  DeadlineEngine::sweep_until_idle …");
    let engine = DeadlineEngine::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(policies.clone()),
        options.clone(),
        None,
    );
    let t0 = Instant::now();
    let report: SweepReport = engine.sweep_until_idle().await?;
    let fire_time = t0.elapsed();
    let rate = report.expired as f64 / fire_time.as_secs_f64();
    let refunded = conn.scalar(&refunded_sql).await? - refunded_before;
    let expired_events = conn
        .scalar("SELECT COUNT(*) FROM case_events WHERE kind = 'deadline_expired'")
        .await?;
    let still_due = conn
        .scalar(&format!(
            "SELECT COUNT(*) FROM deadlines WHERE state = 'active' AND due_at <= {}",
            Utc::now().timestamp_millis()
        ))
        .await?;
    fig.add(
        "fire: engine options",
        format!(
            "batch {}, concurrency {}, lease {} s",
            options.batch,
            options.concurrency,
            options.lease.as_secs()
        ),
    );
    fig.add(
        "fire: deadlines fired / time",
        format!(
            "{} in {}",
            thousands(report.expired as i64),
            secs(fire_time)
        ),
    );
    fig.add("fire: throughput", format!("{rate:.0} deadlines/s"));
    fig.add(
        "fire: SweepReport",
        format!(
            "claimed {}, cases {}, expired {}, reminded {}, moot {}, retried {}, failed {}",
            report.claimed,
            report.cases,
            report.expired,
            report.reminded,
            report.moot,
            report.retried,
            report.failed
        ),
    );
    fig.add(
        "fire: cases now 'refunded' / deadline_expired events / still due",
        format!(
            "{} / {} / {}",
            thousands(refunded),
            thousands(expired_events),
            still_due
        ),
    );
    let fire_ok = report.expired as i64 == args.fire
        && report.failed == 0
        && refunded == args.fire
        && expired_events == args.fire
        && still_due == 0;
    fig.add(
        "fire: checks (expired = fire, failed = 0, all refunded, nothing left due)",
        if fire_ok { "ok" } else { "FAILED" },
    );
    if !fire_ok {
        fig.note("the fire step did not fire exactly the seeded deadlines; see the SweepReport");
        fig.broken = true;
    }
    let target_rate = match backend {
        Backend::Sqlite => TARGET_FIRE_PER_SEC_SQLITE,
        Backend::Postgres => TARGET_FIRE_PER_SEC_POSTGRES,
    };
    fig.target(
        &format!("fire throughput >= {target_rate:.0}/s"),
        format!("{rate:.0}/s"),
        rate >= target_rate,
    );
    drop(engine);

    // The idle sweep again, now that the fired deadlines' rows were rewritten (on PostgreSQL
    // the old row versions stay in the indexes until VACUUM).
    let next = store
        .next_timer_at()
        .await?
        .ok_or("no timer after the fire step")?;
    let (claims, nexts, sums) = idle_sweep(&store, Utc::now(), next).await?;
    println!("  idle sweep after the fire step ({IDLE_RUNS} runs, now = wall clock):");
    fig.add(
        "after fire: idle claim_due_timers, median",
        describe(&claims),
    );
    fig.add("after fire: idle next_timer_at, median", describe(&nexts));
    fig.add(
        "after fire: idle sweep (claim + next_timer_at), median",
        ms(sums.median),
    );
    explain_claim(
        &mut conn,
        &mut fig,
        "after fire, idle",
        Utc::now(),
        512,
        false,
    )
    .await?;
    if let Conn::Postgres(c) = &mut conn {
        let now_ms = Utc::now().timestamp_millis().to_string();
        let select = format!("{SELECT_DUE_REMINDERS}{PG_LOCK}")
            .replace("$3", &now_ms)
            .replace("$4", "512");
        let p = pg_explain(c, &select).await?;
        println!("  EXPLAIN ANALYZE of the reminder-claim SELECT (rolled back):");
        for l in p.summary.lines() {
            println!("    {l}");
        }
        fig.add(
            "after fire, idle reminder SELECT: index / rows read / buffers hit + read",
            format!(
                "{} / {} / {}",
                p.indexes.join(", "),
                thousands(p.scanned_rows),
                p.hit + p.read
            ),
        );
    }

    // 5. The release server, idle on the seeded database.
    let active = conn
        .scalar("SELECT COUNT(*) FROM deadlines WHERE state = 'active'")
        .await?;
    let next = store.next_timer_at().await?;
    println!(
        "5. idle server: {} active deadlines, next timer {}",
        thousands(active),
        next.map_or("none".into(), |t| t.to_rfc3339())
    );
    fig.add(
        "server: active deadlines / next timer in",
        format!(
            "{} / {}",
            thousands(active),
            next.map_or("—".into(), |t| {
                format!("{:.1} h", (t - Utc::now()).num_seconds() as f64 / 3600.0)
            })
        ),
    );
    let mut admin = match (backend, db) {
        (Backend::Postgres, ScratchDatabase::Postgres { admin_url, .. }) => {
            Some(sqlx::PgConnection::connect(admin_url).await?)
        }
        _ => None,
    };
    let db_name = match db {
        ScratchDatabase::Postgres { name, .. } => name.clone(),
        ScratchDatabase::Sqlite { .. } => String::new(),
    };
    let pids_before = match &mut admin {
        Some(a) => pg_backend_pids(a, &db_name).await?,
        None => BTreeSet::new(),
    };
    let tick = clock_ticks_per_second();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .arg("serve")
        .env("AFTERSALES_DATABASE_URL", url)
        .env("AFTERSALES_LISTEN", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let started = Instant::now();
    let first = rx.recv_timeout(Duration::from_secs(120));
    let server = async {
        match first {
            Ok(Some(Ok(line))) if line.starts_with("listening on ") => {}
            other => bail!("the server did not start: {other:?}"),
        }
        let start_time = started.elapsed();
        tokio::time::sleep(SERVER_WARMUP).await;
        let rss_start = proc_status_kb(pid, "VmRSS").ok_or("no VmRSS")?;
        let cpu0 = proc_cpu_ticks(pid).ok_or("no /proc/pid/stat")?;
        let server_pids: BTreeSet<u32> = match &mut admin {
            Some(a) => pg_backend_pids(a, &db_name)
                .await?
                .difference(&pids_before)
                .copied()
                .collect(),
            None => BTreeSet::new(),
        };
        let pg_cpu0: u64 = server_pids.iter().filter_map(|p| proc_cpu_ticks(*p)).sum();
        let pg0 = match &mut admin {
            Some(a) => Some(pg_db_counters(a, &db_name).await?),
            None => None,
        };
        let w0 = Instant::now();
        tokio::time::sleep(SERVER_WINDOW).await;
        let window = w0.elapsed();
        let cpu1 = proc_cpu_ticks(pid).ok_or("no /proc/pid/stat")?;
        let pg_cpu1: u64 = server_pids.iter().filter_map(|p| proc_cpu_ticks(*p)).sum();
        let pg1 = match &mut admin {
            Some(a) => Some(pg_db_counters(a, &db_name).await?),
            None => None,
        };
        let rss = proc_status_kb(pid, "VmRSS").ok_or("no VmRSS")?;
        let hwm = proc_status_kb(pid, "VmHWM").ok_or("no VmHWM")?;
        let threads = proc_status_kb(pid, "Threads").unwrap_or(0);
        let cpu_ms = (cpu1 - cpu0) * 1000 / tick;
        fig.add("server: start to `listening on`", ms(start_time));
        fig.add(
            "server: VmRSS after 10 s / after 20 s / VmHWM (peak)",
            format!(
                "{} / {} / {}",
                mib(rss_start * 1024),
                mib(rss * 1024),
                mib(hwm * 1024)
            ),
        );
        fig.add("server: threads", threads.to_string());
        fig.add(
            "server: CPU (utime + stime) over the idle window",
            format!(
                "{cpu_ms} ms in {} ({:.2} % of one core; clock tick {} ms)",
                secs(window),
                cpu_ms as f64 / window.as_millis() as f64 * 100.0,
                1000 / tick
            ),
        );
        if let (Some((x0, t0, b0)), Some((x1, t1, b1))) = (pg0, pg1) {
            fig.add(
                "server: its PostgreSQL backends' CPU over the window",
                format!(
                    "{} ms ({} backends)",
                    (pg_cpu1 - pg_cpu0) * 1000 / tick,
                    server_pids.len()
                ),
            );
            fig.add(
                "server: database work over the window (pg_stat_database: transactions / tuples / buffers)",
                format!("{} / {} / {}", x1 - x0, t1 - t0, b1 - b0),
            );
        }
        fig.target(
            "server RSS < 200 MB (VmHWM)",
            mib(hwm * 1024),
            hwm < TARGET_SERVER_RSS_KB,
        );
        Ok::<(), Error>(())
    }
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let stop_started = Instant::now();
    let status = loop {
        match child.try_wait()? {
            Some(status) => break Some(status),
            None if stop_started.elapsed() > Duration::from_secs(40) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    server?;
    fig.add(
        "server: SIGTERM to exit",
        match status {
            Some(s) => format!("{} ({s})", ms(stop_started.elapsed())),
            None => "did not exit within 40 s; killed".to_string(),
        },
    );
    drop(store);
    Ok(fig)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "deadline_sweep: --deadlines {} --due {} --fire {} on {}; {} CPUs; {}",
        args.deadlines,
        args.due,
        args.fire,
        args.backends
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(" and "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let mut all = Vec::new();
    let mut failed = false;
    for backend in &args.backends {
        match runtime.block_on(run_backend(*backend, &args)) {
            Ok(f) => all.push(f),
            Err(e) => {
                eprintln!("{}: {e}", backend.name());
                failed = true;
            }
        }
    }
    if !all.is_empty() {
        println!("\n=== Figures ===\n");
        print!("{}", markdown_table(&all));
        println!("\n=== Targets ===\n");
        println!("| backend | target | measured | verdict |\n|---|---|---|---|");
        for f in &all {
            for (what, measured, pass) in &f.targets {
                println!(
                    "| {} | {what} | {measured} | {} |",
                    f.backend,
                    if *pass { "PASS" } else { "FAIL" }
                );
            }
        }
        for f in &all {
            for n in &f.notes {
                println!("\nnote ({}): {n}", f.backend);
            }
        }
    }
    if failed || all.iter().any(|f| f.broken) {
        std::process::exit(1);
    }
}
