//! The same test bodies against SQLite (a temp file) and PostgreSQL (a fresh database per
//! test). PostgreSQL is required: when it cannot be reached the postgres tests fail with
//! instructions rather than skip, so a green run always means both backends were exercised.

use aftersales_domain::access::{Role, ShopScope};
use aftersales_domain::event::Actor;
use aftersales_domain::satisfaction::{SatisfactionCheck, SatisfactionOutcome, SatisfactionStatus};
use aftersales_domain::{
    Address, BoundedText, Case, CaseDraft, CaseId, CaseKind, CaseState, Change, DeadlineSource,
    DeadlineState, DueParty, EventKind, EvidenceRef, Fen, Fulfilment, NewEvent, OrderId,
    PlatformCaseId, PlatformCode, PlatformStatus, Policy, RefreshNeeded, Shipment, ShopId,
    TenantId,
};
use aftersales_store::scratch::{self, ScratchDatabase};
use aftersales_store::{
    ApiKeyRecord, Caller, CaseQuery, CaseWrite, ClaimedTimer, DueDeadline, DueDeadlineCursor,
    DueDeadlineQuery, IdempotencyRecord, OrderRef, PostgresStore, SqliteStore, Store, StoreError,
    TimerClaim, TimerKind, WriteMode, WriteStats,
};
use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Connection;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Harness

/// What a test body gets: the store under test and a separate connection for checking (or
/// damaging) the tables directly.
struct Ctx {
    store: Arc<dyn Store>,
    raw: Raw,
    /// Where the store's database is, to open another store on it.
    at: Location,
}

enum Location {
    Sqlite(String),
    Postgres(Box<PgConnectOptions>),
}

impl Ctx {
    /// The direct connection of a PostgreSQL context.
    fn postgres_raw(&self) -> &PgPool {
        match &self.raw {
            Raw::Postgres(raw) => raw,
            Raw::Sqlite(_) => unreachable!("a PostgreSQL context"),
        }
    }

    /// Where a PostgreSQL context's database is.
    fn postgres_options(&self) -> &PgConnectOptions {
        match &self.at {
            Location::Postgres(options) => options,
            Location::Sqlite(_) => unreachable!("a PostgreSQL context"),
        }
    }

    /// A PostgreSQL store of its own on the database, of `max_connections` (half for reads),
    /// for what `dyn Store` does not show (how its reads were grouped).
    async fn postgres_store(&self, max_connections: u32) -> PostgresStore {
        PostgresStore::connect_with(self.postgres_options().clone(), max_connections)
            .await
            .unwrap()
    }

    /// Another store on the same database, with `writers` group-commit writers (SQLite has
    /// one whatever is asked).
    async fn open(&self, writers: usize) -> Arc<dyn Store> {
        match &self.at {
            Location::Sqlite(url) => Arc::new(SqliteStore::connect(url).await.unwrap()),
            Location::Postgres(options) => Arc::new(
                PostgresStore::connect_with_writers((**options).clone(), 4, writers)
                    .await
                    .unwrap(),
            ),
        }
    }
}

/// A lock held on a connection of its own until `release`: a store write waits for it.
enum Hold {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl Hold {
    async fn release(self) {
        match self {
            Hold::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut *c).await.unwrap();
            }
            Hold::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut *c).await.unwrap();
            }
        }
    }
}

enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

type DeadlineRow = (
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    String,
    String,
    String,
);

type TimerColumns = (
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

impl Raw {
    async fn deadlines(&self, tenant: &str, case_id: &str) -> Vec<DeadlineRow> {
        const SQL: &str =
            "SELECT position, key, rule_id, due_party, due_at, remind_at, consequence, \
                           source, state FROM deadlines WHERE tenant_id = $1 AND case_id = $2 \
                           ORDER BY position";
        macro_rules! run {
            ($pool:expr) => {
                sqlx::query_as(SQL)
                    .bind(tenant)
                    .bind(case_id)
                    .fetch_all($pool)
                    .await
                    .unwrap()
            };
        }
        match self {
            Raw::Sqlite(p) => run!(p),
            Raw::Postgres(p) => run!(p),
        }
    }

    /// The timer columns of a case's deadline rows: (position, shop_id, platform, reminded_at,
    /// lease_owner, lease_until).
    async fn timer_columns(&self, tenant: &str, case_id: &str) -> Vec<TimerColumns> {
        const SQL: &str = "SELECT position, shop_id, platform, reminded_at, lease_owner, \
                           lease_until FROM deadlines WHERE tenant_id = $1 AND case_id = $2 \
                           ORDER BY position";
        macro_rules! run {
            ($pool:expr) => {
                sqlx::query_as(SQL)
                    .bind(tenant)
                    .bind(case_id)
                    .fetch_all($pool)
                    .await
                    .unwrap()
            };
        }
        match self {
            Raw::Sqlite(p) => run!(p),
            Raw::Postgres(p) => run!(p),
        }
    }

    /// The query plan of `sql` (one `$1` bound to `arg`, if it has one) as text. PostgreSQL
    /// plans with sequential scans disabled, so the plan shows whether an index *can* serve
    /// the query (on a handful of rows the planner would rightly prefer a scan).
    async fn plan(&self, sql: &str, arg: i64) -> String {
        let binds = sql.contains("$1");
        let sqlite_explain = format!("EXPLAIN QUERY PLAN {sql}");
        let pg_explain = format!("EXPLAIN {sql}");
        match self {
            Raw::Sqlite(p) => {
                let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&sqlite_explain);
                if binds {
                    q = q.bind(arg);
                }
                let rows = q.fetch_all(p).await.unwrap();
                rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
            }
            Raw::Postgres(p) => {
                let mut tx = p.begin().await.unwrap();
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let mut q = sqlx::query_as::<_, (String,)>(&pg_explain);
                if binds {
                    q = q.bind(arg);
                }
                let rows = q.fetch_all(&mut *tx).await.unwrap();
                tx.rollback().await.unwrap();
                rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
            }
        }
    }

    /// Block writes to the case: SQLite's write lock (every write waits), PostgreSQL's lock on
    /// the case row (writes of that case wait).
    async fn hold(&self, tenant: &str, case_id: &str) -> Hold {
        match self {
            Raw::Sqlite(p) => {
                let mut c = p.acquire().await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *c)
                    .await
                    .unwrap();
                Hold::Sqlite(c)
            }
            Raw::Postgres(p) => {
                let mut c = p.acquire().await.unwrap();
                sqlx::query("BEGIN").execute(&mut *c).await.unwrap();
                let locked =
                    sqlx::query("SELECT 1 FROM cases WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                        .bind(tenant)
                        .bind(case_id)
                        .fetch_all(&mut *c)
                        .await
                        .unwrap();
                assert_eq!(locked.len(), 1, "no case {tenant}/{case_id} to hold");
                Hold::Postgres(c)
            }
        }
    }

    /// Logs every row written to `deadlines` (op, case id, position) into `deadline_writes`,
    /// through triggers, which see what the statements did rather than what they left.
    async fn log_deadline_writes(&self) {
        match self {
            Raw::Sqlite(p) => {
                sqlx::raw_sql(
                    "CREATE TABLE deadline_writes (op TEXT, case_id TEXT, position INTEGER);
                     CREATE TRIGGER deadline_inserted AFTER INSERT ON deadlines BEGIN
                         INSERT INTO deadline_writes VALUES ('insert', new.case_id, new.position);
                     END;
                     CREATE TRIGGER deadline_updated AFTER UPDATE ON deadlines BEGIN
                         INSERT INTO deadline_writes VALUES ('update', new.case_id, new.position);
                     END;
                     CREATE TRIGGER deadline_deleted AFTER DELETE ON deadlines BEGIN
                         INSERT INTO deadline_writes VALUES ('delete', old.case_id, old.position);
                     END;",
                )
                .execute(p)
                .await
                .unwrap();
            }
            Raw::Postgres(p) => {
                sqlx::raw_sql(
                    "CREATE TABLE deadline_writes (op TEXT, case_id TEXT, position BIGINT);
                     CREATE FUNCTION log_deadline_write() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                         IF TG_OP = 'DELETE' THEN
                             INSERT INTO deadline_writes VALUES ('delete', OLD.case_id, OLD.position);
                         ELSE
                             INSERT INTO deadline_writes VALUES (lower(TG_OP), NEW.case_id, NEW.position);
                         END IF;
                         RETURN NULL;
                     END $$;
                     CREATE TRIGGER deadline_written AFTER INSERT OR UPDATE OR DELETE ON deadlines
                         FOR EACH ROW EXECUTE FUNCTION log_deadline_write();",
                )
                .execute(p)
                .await
                .unwrap();
            }
        }
    }

    /// What [`Raw::log_deadline_writes`] logged since the last call, as "op case/position",
    /// sorted; the log is emptied.
    async fn take_deadline_writes(&self) -> Vec<String> {
        const SELECT: &str = "SELECT op, case_id, position FROM deadline_writes";
        const CLEAR: &str = "DELETE FROM deadline_writes";
        let rows: Vec<(String, String, i64)> = match self {
            Raw::Sqlite(p) => {
                let rows = sqlx::query_as(SELECT).fetch_all(p).await.unwrap();
                sqlx::query(CLEAR).execute(p).await.unwrap();
                rows
            }
            Raw::Postgres(p) => {
                let rows = sqlx::query_as(SELECT).fetch_all(p).await.unwrap();
                sqlx::query(CLEAR).execute(p).await.unwrap();
                rows
            }
        };
        let mut writes: Vec<String> = rows
            .into_iter()
            .map(|(op, case, position)| format!("{op} {case}/{position}"))
            .collect();
        writes.sort();
        writes
    }

    async fn execute(&self, sql: &str, arg: &str) {
        macro_rules! run {
            ($pool:expr) => {
                sqlx::query(sql).bind(arg).execute($pool).await.unwrap()
            };
        }
        match self {
            Raw::Sqlite(p) => {
                run!(p);
            }
            Raw::Postgres(p) => {
                run!(p);
            }
        }
    }
}

/// What a test's database holds before the store opens it.
enum Start {
    /// Nothing: the store creates the current schema.
    Empty,
    /// What an older release left: only the migrations before `version`, then `seed` (SQL, one
    /// text for both backends). Opening the store then migrates it as a deployment would.
    Upgrade { version: &'static str, seed: String },
}

/// The migrations of `backend` older than `version`, read through a copy of their directory
/// holding only those (the public way to give a migrator fewer of them).
async fn migrations_before(backend: &str, version: &str) -> sqlx::migrate::Migrator {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend);
    let copy = std::env::temp_dir().join(format!(
        "aftersales-migrations-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().as_ref() < version {
            std::fs::copy(source.join(&name), copy.join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(copy.as_path()).await.unwrap();
    std::fs::remove_dir_all(&copy).unwrap();
    migrator
}

/// Run `body` on a fresh SQLite file in a directory that does not exist yet.
async fn on_sqlite<F, Fut>(start: Start, body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = std::env::temp_dir().join(format!(
        "aftersales-store-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let path = dir.join("nested").join("store.db");
    if let Start::Upgrade { version, seed } = start {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let old = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        migrations_before("sqlite", version)
            .await
            .run(&old)
            .await
            .unwrap();
        sqlx::raw_sql(&seed).execute(&old).await.unwrap();
        old.close().await;
    }
    let url = format!("sqlite:{}", path.display());
    let store = SqliteStore::connect(&url).await.expect("open SQLite store");
    let raw = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(&path))
        .await
        .expect("open SQLite file directly");
    let outcome = tokio::spawn(body(Ctx {
        store: Arc::new(store.clone()),
        raw: Raw::Sqlite(raw.clone()),
        at: Location::Sqlite(url),
    }))
    .await;
    raw.close().await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Run `body` on a database created for it alone, dropped afterwards even if the body panics.
async fn on_postgres<F, Fut>(start: Start, body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (scratch, url) = ScratchDatabase::fresh(true, "aftersales_test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let options = PgConnectOptions::from_str(&url).unwrap();
    let run = async {
        if let Start::Upgrade { version, seed } = start {
            let old = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .unwrap();
            migrations_before("postgres", version)
                .await
                .run(&old)
                .await
                .unwrap();
            sqlx::raw_sql(&seed).execute(&old).await.unwrap();
            old.close().await;
        }
        let store = PostgresStore::connect_with(options.clone(), 12)
            .await
            .expect("open PostgreSQL store");
        let raw = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .expect("connect directly");
        let outcome = tokio::spawn(body(Ctx {
            store: Arc::new(store.clone()),
            raw: Raw::Postgres(raw.clone()),
            at: Location::Postgres(Box::new(options)),
        }))
        .await;
        raw.close().await;
        store.close().await;
        outcome
    };
    let outcome = run.await;
    scratch.drop_now().await.unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `start_of!()` is an empty database; `start_of!(f)` is what `super::f()` returns.
macro_rules! start_of {
    () => {
        super::Start::Empty
    };
    ($start:ident) => {
        super::$start()
    };
}

/// Each body becomes `sqlite::<name>` and `postgres::<name>`; `<name> from <f>` starts from the
/// database the [`Start`] that `f()` returns describes.
macro_rules! on_both {
    ($($name:ident $(from $start:ident)?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_sqlite(start_of!($($start)?), super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_postgres(start_of!($($start)?), super::$name).await
                }
            )*
        }
    };
}

on_both!(
    case_round_trip,
    update_checks_the_expected_version,
    an_update_cannot_change_a_cases_identity,
    an_update_rewrites_only_the_deadline_rows_that_changed,
    duplicate_cases_are_refused,
    idempotency_records_commit_with_the_write,
    event_seqs_are_gap_free_per_tenant,
    list_cases_filters_and_pages,
    deadline_rows_mirror_the_case,
    events_only_leaves_the_case_alone,
    concurrent_writers_get_contiguous_seqs,
    api_keys_round_trip,
    api_keys_list_revoke_and_rotate_within_their_tenant,
    events_record_their_caller_and_feed_by_shop,
    corrupt_rows_are_errors,
    corrupt_rows_fail_the_reads_a_write_makes_first,
    timer_claims_take_due_timers_earliest_first,
    claimed_timers_are_leased_until_the_lease_ends,
    released_timers_are_claimable_at_once,
    writing_a_case_completes_its_timers,
    concurrent_claims_never_share_a_timer,
    next_timer_at_is_the_earliest_pending_timer,
    list_due_deadlines_orders_filters_and_pages,
    due_deadline_rows_out_of_step_with_the_case_are_corrupt,
    cases_by_ids_returns_the_stored_cases,
    concurrent_case_lookups_each_get_their_own_answer,
    concurrent_request_lookups_each_get_their_own_answer,
    timer_migration_backfills_existing_deadlines from before_deadline_timers,
    cases_on_order_finds_every_line_of_that_order_only,
    needs_refresh_lists_only_marked_cases,
    order_line_migration_backfills_existing_cases from before_order_lines,
    gauge_counts_count_open_cases_and_active_deadlines,
    gauge_queries_read_only_their_partial_indexes,
    concurrent_writes_share_transactions_and_are_read_back_by_a_fresh_store,
    a_failing_write_fails_alone_in_its_batch,
    distinct_updates_in_one_batch_commit_together_and_a_stale_one_fails_alone,
    copies_of_one_request_commit_once_and_the_rest_find_it,
    writer_count_follows_the_setting,
    satisfaction_column_follows_the_case_alone_and_in_a_batch,
    satisfaction_migration_marks_resolved_cases_unchecked from before_satisfaction,
    case_views_follow_every_write_and_a_stale_one_falls_back_to_the_body,
    the_view_pass_renders_each_stale_view_again_and_runs_once_per_format,
    the_view_pass_goes_past_a_body_that_does_not_decode,
    replicas_running_the_view_pass_at_once_write_each_page_once,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

const POLICY: &str = r#"
platform = "demo"
version = "demo-2026"
effective_from = "2026-01-01T00:00:00+08:00"
source = "test"
after_sales_window_days = 15
merchant_actions = ["agree", "reject"]

[[deadlines]]
key = "merchant_response"
rule = "TB-07"
state = "awaiting_merchant"
due_party = "merchant"
due_after = "5d"
remind_before = "24h"
consequence = "auto_agree"

[[deadlines]]
key = "buyer_may_escalate"
rule = "TB-05"
state = "awaiting_merchant"
due_party = "buyer"
due_after = "7d"
consequence = "buyer_may_escalate"
"#;

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T08:00:00.123Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn text(s: &str) -> BoundedText {
    BoundedText::parse(s).unwrap()
}

fn draft(platform: &str, shop: &str, kind: CaseKind, platform_case_id: Option<&str>) -> CaseDraft {
    CaseDraft {
        platform_case_id: platform_case_id.map(|p| PlatformCaseId::parse(p).unwrap()),
        order_id: Some(OrderId::parse("order-1").unwrap()),
        order_total: Some(Fen::new(5000).unwrap()),
        ..CaseDraft::new(
            ShopId::parse(shop).unwrap(),
            PlatformCode::parse(platform).unwrap(),
            kind,
            Fulfilment::Received,
            Fen::new(1999).unwrap(),
            text("arrived broken"),
            text("buyer-1"),
        )
    }
}

fn open(tenant_id: &str, id: &str, draft: CaseDraft, now: DateTime<Utc>) -> Change {
    let policy = Policy::parse_toml(POLICY).unwrap();
    Case::open(
        CaseId::parse(id).unwrap(),
        tenant(tenant_id),
        draft,
        &policy,
        Actor::merchant("alice"),
        now,
        &[],
    )
    .unwrap()
}

fn simple(tenant_id: &str, id: &str) -> Change {
    open(
        tenant_id,
        id,
        draft("demo", "shop-1", CaseKind::RefundOnly, None),
        base(),
    )
}

fn insert(change: Change) -> CaseWrite {
    CaseWrite {
        case: change.case,
        mode: WriteMode::Insert,
        events: change.events,
        idempotency: None,
        caller: None,
    }
}

fn note(case: &Case, n: i64) -> NewEvent {
    NewEvent {
        kind: EventKind::PlatformUpdated,
        actor: Actor::platform(case.platform.as_str()),
        from_state: Some(case.state),
        to_state: None,
        detail: serde_json::json!({ "n": n, "nested": { "list": [1, 2, 3] } }),
        occurred_at: base() + Duration::milliseconds(n),
    }
}

/// The next version of `case`, as the domain would hand it to the store.
fn changed(case: &Case, state: CaseState) -> Case {
    let mut next = case.clone();
    next.state = state;
    next.version += 1;
    next.updated_at = case.updated_at + Duration::minutes(1);
    next
}

fn update(case: Case, expected_version: i64, events: Vec<NewEvent>) -> CaseWrite {
    CaseWrite {
        case,
        mode: WriteMode::Update { expected_version },
        events,
        idempotency: None,
        caller: None,
    }
}

fn seqs(events: &[aftersales_store::StoredEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

fn address(name: &str) -> Address {
    Address {
        name: text(name),
        phone: text("13800000000"),
        province: text("浙江省"),
        city: text("杭州市"),
        district: text("余杭区"),
        detail: text("文一西路 969 号"),
    }
}

fn opened_at(tenant_id: &str, id: &str, at: DateTime<Utc>) -> Change {
    open(
        tenant_id,
        id,
        draft("demo", "shop-1", CaseKind::RefundOnly, None),
        at,
    )
}

/// Store the next version of `case` with `edit` applied, as a sweeper or an action would.
async fn rewrite(s: &dyn Store, case: &Case, edit: impl FnOnce(&mut Case)) -> Case {
    let mut next = changed(case, case.state);
    edit(&mut next);
    s.write(update(next.clone(), case.version, vec![]))
        .await
        .unwrap();
    next
}

fn lease() -> Duration {
    Duration::minutes(5)
}

fn claim(owner: &str, now: DateTime<Utc>, limit: u32) -> TimerClaim {
    TimerClaim {
        owner: owner.to_string(),
        now,
        lease_until: now + lease(),
        limit,
    }
}

/// Claimed timers as `(kind, "tenant/case/position", at)`, in the order returned.
fn timers(claimed: &[ClaimedTimer]) -> Vec<(TimerKind, String, DateTime<Utc>)> {
    claimed
        .iter()
        .map(|t| {
            (
                t.kind,
                format!("{}/{}/{}", t.tenant, t.case_id, t.position),
                t.at,
            )
        })
        .collect()
}

fn expiry(key: &str, at: DateTime<Utc>) -> (TimerKind, String, DateTime<Utc>) {
    (TimerKind::Expiry, key.to_string(), at)
}

fn reminder(key: &str, at: DateTime<Utc>) -> (TimerKind, String, DateTime<Utc>) {
    (TimerKind::Reminder, key.to_string(), at)
}

// The fixture policy opens, for a case opened at t: deadline 0 (merchant) reminding at t+4d and
// due at t+5d, and deadline 1 (buyer) due at t+7d without a reminder.
fn remind0(t: DateTime<Utc>) -> DateTime<Utc> {
    t + Duration::days(4)
}
fn due0(t: DateTime<Utc>) -> DateTime<Utc> {
    t + Duration::days(5)
}
fn due1(t: DateTime<Utc>) -> DateTime<Utc> {
    t + Duration::days(7)
}

/// Two tenants' case `c-1` (different shops and platforms, so a backfill that ignored the
/// tenant would mix them up), stored as the release before the deadline-timer migration
/// stored cases.
fn before_deadline_timers() -> Start {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut seed = String::new();
    for case in upgraded_cases() {
        seed += &first_schema_case_row(&case);
        for (i, d) in case.deadlines.iter().enumerate() {
            let due_party = serde_json::to_value(d.due_party).unwrap();
            seed += &format!(
                "INSERT INTO deadlines (tenant_id, case_id, position, key, rule_id, due_party, \
                 due_at, remind_at, consequence, source, state) \
                 VALUES ({}, {}, {i}, {}, {}, {}, {}, {}, {}, 'policy', {});\n",
                quote(case.tenant.as_str()),
                quote(case.id.as_str()),
                quote(&d.key),
                quote(&d.rule_id),
                quote(due_party.as_str().unwrap()),
                d.due_at.timestamp_millis(),
                d.remind_at
                    .map_or("NULL".to_string(), |t| t.timestamp_millis().to_string()),
                quote(d.consequence.as_str()),
                quote(d.state.as_str()),
            );
        }
    }
    Start::Upgrade {
        version: "20261122000001",
        seed,
    }
}

fn upgraded_cases() -> [Case; 2] {
    [
        open(
            "acme",
            "c-1",
            draft("demo", "shop-a", CaseKind::RefundOnly, None),
            base(),
        )
        .case,
        open(
            "beta",
            "c-1",
            draft("other", "shop-b", CaseKind::RefundOnly, None),
            base() + Duration::hours(1),
        )
        .case,
    ]
}

// ---------------------------------------------------------------------------------------------
// Bodies

async fn case_round_trip(ctx: Ctx) {
    let s = &*ctx.store;
    let mut change = open(
        "acme",
        "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        draft(
            "demo",
            "tmall-flagship",
            CaseKind::ReturnAndRefund,
            Some("9223372036854775808123"),
        ),
        base(),
    );
    let case = &mut change.case;
    assert_eq!(
        case.deadlines.len(),
        2,
        "the fixture policy should open two deadlines"
    );
    case.sub_order_id = Some(OrderId::parse("sub-7").unwrap());
    case.refunded = Some(Fen::new(1500).unwrap());
    case.buyer_address = Some(address("张三"));
    case.return_address = Some(address("仓库"));
    case.return_shipment = Some(Shipment {
        carrier: text("SF"),
        tracking_number: text("SF123"),
        shipped_at: Some(base() + Duration::hours(3)),
    });
    case.reship_shipment = Some(Shipment {
        carrier: text("YTO"),
        tracking_number: text("YT9"),
        shipped_at: None,
    });
    case.evidence = vec![EvidenceRef {
        kind: text("photo"),
        uri: text("s3://bucket/p.jpg"),
        sha256: Some("ab".repeat(32)),
        note: text("box dented"),
    }];
    case.platform_status = Some(PlatformStatus {
        code: "WAIT_SELLER_AGREE".into(),
        text: "等待卖家同意".into(),
    });
    case.platform_version = Some(1_763_625_600_123);
    case.platform_attributes
        .insert("good_status".into(), "BUYER_RECEIVED".into());
    case.deadlines[1].source = DeadlineSource::Platform;
    case.deadlines[1].computed_due_at = Some(base() + Duration::days(6));
    let mut met = case.deadlines[0].clone();
    met.key = "earlier_one".into();
    met.state = DeadlineState::Met;
    met.remind_at = None;
    case.deadlines.push(met);

    let mut write = insert(change.clone());
    write.events.push(note(&write.case, 1));
    let stored = s.write(write).await.unwrap();
    assert_eq!(seqs(&stored), vec![1, 2]);
    assert_eq!(stored[0].kind, "case_created");
    assert_eq!(stored[0].tenant, change.case.tenant);
    assert_eq!(stored[0].case_id, change.case.id);

    let got = s.case(&change.case.tenant, &change.case.id).await.unwrap();
    assert_eq!(got.as_ref(), Some(&change.case));
    let by_platform = s
        .case_by_platform_id(
            &change.case.tenant,
            &change.case.platform,
            change.case.platform_case_id.as_ref().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(by_platform.as_ref(), Some(&change.case));
    assert_eq!(
        s.case(&tenant("other"), &change.case.id).await.unwrap(),
        None,
        "tenants are separate"
    );
    assert_eq!(
        s.case(&change.case.tenant, &CaseId::parse("missing").unwrap())
            .await
            .unwrap(),
        None
    );

    let events = s
        .case_events(&change.case.tenant, &change.case.id, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        events, stored,
        "events read back exactly as the write returned them"
    );
}

async fn update_checks_the_expected_version(ctx: Ctx) {
    let s = &*ctx.store;
    let v1 = simple("acme", "case-1").case;
    s.write(insert(simple("acme", "case-1"))).await.unwrap();

    let v2 = changed(&v1, CaseState::AwaitingBuyer);
    let stored = s
        .write(update(v2.clone(), 1, vec![note(&v1, 1)]))
        .await
        .unwrap();
    assert_eq!(seqs(&stored), vec![2]);
    assert_eq!(s.case(&v1.tenant, &v1.id).await.unwrap(), Some(v2.clone()));

    // A second writer that also read version 1 loses, and none of its write lands.
    let stale = changed(&v1, CaseState::Closed);
    let err = s
        .write(update(stale, 1, vec![note(&v1, 2)]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::VersionConflict { case_id, expected: 1 } if case_id == "case-1"),
        "{err:?}"
    );
    assert_eq!(s.case(&v1.tenant, &v1.id).await.unwrap(), Some(v2.clone()));
    assert_eq!(
        seqs(&s.tenant_events(&v1.tenant, &[], 0, 100).await.unwrap()),
        vec![1, 2]
    );

    // Updating a case that does not exist is a conflict too, not a silent no-op.
    let ghost = changed(&simple("acme", "case-ghost").case, CaseState::Closed);
    let err = s.write(update(ghost, 1, vec![])).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { .. }), "{err:?}");

    let v3 = changed(&v2, CaseState::Refunded);
    s.write(update(v3.clone(), 2, vec![])).await.unwrap();
    assert_eq!(s.case(&v1.tenant, &v1.id).await.unwrap(), Some(v3));
}

async fn duplicate_cases_are_refused(ctx: Ctx) {
    let s = &*ctx.store;
    let with_pcid = |tenant_id: &str, id: &str, platform: &str, pcid: Option<&str>| {
        insert(open(
            tenant_id,
            id,
            draft(platform, "shop-1", CaseKind::RefundOnly, pcid),
            base(),
        ))
    };
    s.write(with_pcid("acme", "case-1", "demo", Some("R1")))
        .await
        .unwrap();

    let err = s
        .write(with_pcid("acme", "case-2", "demo", Some("R1")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicatePlatformCase { platform, platform_case_id }
            if platform == "demo" && platform_case_id == "R1"),
        "{err:?}"
    );
    assert_eq!(
        s.case(&tenant("acme"), &CaseId::parse("case-2").unwrap())
            .await
            .unwrap(),
        None
    );

    let err = s
        .write(with_pcid("acme", "case-1", "demo", Some("R9")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { what } if what.contains("case-1")),
        "{err:?}"
    );

    // The uniqueness is per tenant and platform; cases without a platform id never clash.
    s.write(with_pcid("acme", "case-3", "other", Some("R1")))
        .await
        .unwrap();
    s.write(with_pcid("beta", "case-1", "demo", Some("R1")))
        .await
        .unwrap();
    s.write(with_pcid("acme", "case-4", "demo", None))
        .await
        .unwrap();
    s.write(with_pcid("acme", "case-5", "demo", None))
        .await
        .unwrap();

    // Nothing of the refused writes reached the feed.
    assert_eq!(
        seqs(&s.tenant_events(&tenant("acme"), &[], 0, 100).await.unwrap()),
        vec![1, 2, 3, 4]
    );
}

async fn idempotency_records_commit_with_the_write(ctx: Ctx) {
    let s = &*ctx.store;
    let acme = tenant("acme");
    let record = |response: &[u8]| IdempotencyRecord {
        request_id: "req-1".into(),
        method: "/aftersales.v1.AfterSalesService/CreateCase".into(),
        fingerprint: "sha256:abc".into(),
        response: response.to_vec(),
        created_at: base(),
    };
    assert_eq!(s.idempotent_response(&acme, "req-1").await.unwrap(), None);

    let mut first = insert(simple("acme", "case-1"));
    first.idempotency = Some(record(&[0, 1, 2, 255]));
    s.write(first).await.unwrap();
    assert_eq!(
        s.idempotent_response(&acme, "req-1").await.unwrap(),
        Some(record(&[0, 1, 2, 255]))
    );

    let mut second = insert(simple("acme", "case-2"));
    second.idempotency = Some(record(b"other answer"));
    let err = s.write(second).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateRequest { request_id } if request_id == "req-1"),
        "{err:?}"
    );

    // The first write stands, the second left no trace.
    assert!(s
        .case(&acme, &CaseId::parse("case-1").unwrap())
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        s.case(&acme, &CaseId::parse("case-2").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.idempotent_response(&acme, "req-1").await.unwrap(),
        Some(record(&[0, 1, 2, 255]))
    );
    let feed = s.tenant_events(&acme, &[], 0, 100).await.unwrap();
    assert_eq!(seqs(&feed), vec![1]);
    assert_eq!(feed[0].case_id.as_str(), "case-1");

    // Request ids are per tenant.
    let mut other_tenant = insert(simple("beta", "case-2"));
    other_tenant.idempotency = Some(record(b"beta"));
    s.write(other_tenant).await.unwrap();
    assert_eq!(
        s.idempotent_response(&tenant("beta"), "req-1")
            .await
            .unwrap(),
        Some(record(b"beta"))
    );
}

async fn event_seqs_are_gap_free_per_tenant(ctx: Ctx) {
    let s = &*ctx.store;
    let (acme, beta) = (tenant("acme"), tenant("beta"));
    let c1 = simple("acme", "case-1");
    let mut w = insert(c1.clone());
    w.events.push(note(&c1.case, 1));
    assert_eq!(seqs(&s.write(w).await.unwrap()), vec![1, 2]);
    assert_eq!(
        seqs(&s.write(insert(simple("acme", "case-2"))).await.unwrap()),
        vec![3]
    );
    assert_eq!(
        seqs(&s.write(insert(simple("beta", "case-1"))).await.unwrap()),
        vec![1]
    );
    let events_only = CaseWrite {
        case: c1.case.clone(),
        mode: WriteMode::EventsOnly,
        events: vec![note(&c1.case, 2), note(&c1.case, 3)],
        idempotency: None,
        caller: None,
    };
    assert_eq!(seqs(&s.write(events_only).await.unwrap()), vec![4, 5]);
    // A write without events takes no seq.
    let quiet = changed(&c1.case, CaseState::AwaitingBuyer);
    assert!(s.write(update(quiet, 1, vec![])).await.unwrap().is_empty());
    assert_eq!(
        seqs(&s.write(insert(simple("acme", "case-3"))).await.unwrap()),
        vec![6]
    );

    assert_eq!(
        seqs(&s.tenant_events(&acme, &[], 0, 100).await.unwrap()),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        seqs(&s.tenant_events(&acme, &[], 2, 100).await.unwrap()),
        vec![3, 4, 5, 6]
    );
    assert_eq!(
        seqs(&s.tenant_events(&acme, &[], 2, 2).await.unwrap()),
        vec![3, 4]
    );
    assert_eq!(
        seqs(&s.tenant_events(&acme, &[], 6, 100).await.unwrap()),
        Vec::<i64>::new()
    );
    assert_eq!(
        seqs(&s.tenant_events(&beta, &[], 0, 100).await.unwrap()),
        vec![1]
    );

    let case1 = CaseId::parse("case-1").unwrap();
    assert_eq!(
        seqs(&s.case_events(&acme, &case1, 0, 100).await.unwrap()),
        vec![1, 2, 4, 5]
    );
    assert_eq!(
        seqs(&s.case_events(&acme, &case1, 2, 1).await.unwrap()),
        vec![4]
    );
    assert_eq!(s.case_events(&beta, &case1, 0, 100).await.unwrap().len(), 1);

    let e = &s.case_events(&acme, &case1, 3, 1).await.unwrap()[0];
    assert_eq!(e.kind, "platform_updated");
    assert_eq!(e.actor, Actor::platform("demo"));
    assert_eq!(e.from_state, Some(CaseState::AwaitingMerchant));
    assert_eq!(e.to_state, None);
    assert_eq!(
        e.detail,
        serde_json::json!({ "n": 2, "nested": { "list": [1, 2, 3] } })
    );
    assert_eq!(e.occurred_at, base() + Duration::milliseconds(2));
}

async fn list_cases_filters_and_pages(ctx: Ctx) {
    let s = &*ctx.store;
    let acme = tenant("acme");
    let kinds = [
        CaseKind::RefundOnly,
        CaseKind::ReturnAndRefund,
        CaseKind::Exchange,
        CaseKind::Reship,
        CaseKind::Repair,
    ];
    let mut all = Vec::new();
    // Inserted out of id order, so id order is not simply insertion order.
    for i in (0..25).map(|i| (i * 7) % 25) {
        let platform = if i % 3 == 0 { "other" } else { "demo" };
        let shop = format!("shop-{}", i % 4);
        let kind = kinds[i % kinds.len()];
        let mut change = open(
            "acme",
            &format!("case-{i:03}"),
            draft(platform, &shop, kind, Some(&format!("R{i}"))),
            base() + Duration::hours(i as i64),
        );
        if i % 4 == 0 {
            change.case.state = CaseState::Closed;
            for d in &mut change.case.deadlines {
                d.state = DeadlineState::Cancelled;
            }
        }
        all.push(change.case.clone());
        s.write(insert(change)).await.unwrap();
    }
    // Same ids in another tenant must never show up.
    for i in 0..3 {
        s.write(insert(simple("beta", &format!("case-{i:03}"))))
            .await
            .unwrap();
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));

    let page_all = |q: CaseQuery, limit: u32| {
        let acme = &acme;
        async move {
            let mut q = CaseQuery {
                limit,
                after_id: None,
                ..q
            };
            let (mut ids, mut sizes) = (Vec::new(), Vec::new());
            loop {
                let page = s.list_cases(acme, &q).await.unwrap();
                sizes.push(page.len());
                ids.extend(page.iter().map(|c| c.id.to_string()));
                if page.len() < limit as usize {
                    break;
                }
                q.after_id = Some(page.last().unwrap().id.clone());
            }
            (ids, sizes)
        }
    };
    let expect = |keep: &dyn Fn(&Case) -> bool| -> Vec<String> {
        all.iter()
            .filter(|c| keep(c))
            .map(|c| c.id.to_string())
            .collect()
    };

    let (ids, sizes) = page_all(CaseQuery::default(), 10).await;
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(ids, expect(&|_| true), "every case once, in id order");

    let first = s
        .list_cases(
            &acme,
            &CaseQuery {
                limit: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first, all[..3].to_vec(), "list returns whole cases");
    assert!(
        s.list_cases(&acme, &CaseQuery::default())
            .await
            .unwrap()
            .is_empty(),
        "limit 0"
    );

    let at = |h: i64| base() + Duration::days(5) + Duration::hours(h);
    type Keep = Box<dyn Fn(&Case) -> bool + Send + Sync>;
    let cases: Vec<(&str, CaseQuery, Keep)> = vec![
        (
            "platform",
            CaseQuery {
                platform: Some(PlatformCode::parse("other").unwrap()),
                ..Default::default()
            },
            Box::new(|c: &Case| c.platform.as_str() == "other"),
        ),
        (
            "shop",
            CaseQuery {
                shop: Some(ShopId::parse("shop-1").unwrap()),
                ..Default::default()
            },
            Box::new(|c: &Case| c.shop.as_str() == "shop-1"),
        ),
        (
            "kind",
            CaseQuery {
                kind: Some(CaseKind::Exchange),
                ..Default::default()
            },
            Box::new(|c: &Case| c.kind == CaseKind::Exchange),
        ),
        (
            "state",
            CaseQuery {
                state: Some(CaseState::Closed),
                ..Default::default()
            },
            Box::new(|c: &Case| c.state == CaseState::Closed),
        ),
        (
            "deadline before",
            CaseQuery {
                next_deadline_before: Some(at(10)),
                ..Default::default()
            },
            Box::new(move |c: &Case| c.next_deadline_at().is_some_and(|t| t < at(10))),
        ),
        (
            "deadline after",
            CaseQuery {
                next_deadline_after: Some(at(10)),
                ..Default::default()
            },
            Box::new(move |c: &Case| c.next_deadline_at().is_some_and(|t| t > at(10))),
        ),
        (
            "deadline range",
            CaseQuery {
                next_deadline_after: Some(at(3)),
                next_deadline_before: Some(at(19)),
                ..Default::default()
            },
            Box::new(move |c: &Case| {
                c.next_deadline_at()
                    .is_some_and(|t| t > at(3) && t < at(19))
            }),
        ),
        (
            "updated after",
            CaseQuery {
                updated_after: Some(base() + Duration::hours(20)),
                ..Default::default()
            },
            Box::new(|c: &Case| c.updated_at > base() + Duration::hours(20)),
        ),
        (
            "combined",
            CaseQuery {
                platform: Some(PlatformCode::parse("demo").unwrap()),
                state: Some(CaseState::AwaitingMerchant),
                kind: Some(CaseKind::RefundOnly),
                ..Default::default()
            },
            Box::new(|c: &Case| {
                c.platform.as_str() == "demo"
                    && c.state == CaseState::AwaitingMerchant
                    && c.kind == CaseKind::RefundOnly
            }),
        ),
    ];
    for (name, query, keep) in cases {
        let want = expect(&*keep);
        assert!(
            !want.is_empty() && want.len() < all.len(),
            "filter {name} should select some cases"
        );
        let (got, _) = page_all(query, 4).await;
        assert_eq!(got, want, "filter {name}");
    }
}

async fn deadline_rows_mirror_the_case(ctx: Ctx) {
    let s = &*ctx.store;
    let change = simple("acme", "case-1");
    let v1 = change.case.clone();
    s.write(insert(change)).await.unwrap();
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    let rows = ctx.raw.deadlines("acme", "case-1").await;
    assert_eq!(
        rows,
        vec![
            (
                0,
                "merchant_response".to_string(),
                "TB-07".to_string(),
                "merchant".to_string(),
                ms(base() + Duration::days(5)),
                Some(ms(base() + Duration::days(4))),
                "auto_agree".to_string(),
                "policy".to_string(),
                "active".to_string(),
            ),
            (
                1,
                "buyer_may_escalate".to_string(),
                "TB-05".to_string(),
                "buyer".to_string(),
                ms(base() + Duration::days(7)),
                None,
                "buyer_may_escalate".to_string(),
                "policy".to_string(),
                "active".to_string(),
            ),
        ]
    );

    // An update replaces the rows wholesale.
    let mut v2 = changed(&v1, CaseState::AwaitingBuyer);
    v2.deadlines.truncate(1);
    v2.deadlines[0].state = DeadlineState::Met;
    v2.deadlines[0].source = DeadlineSource::Platform;
    s.write(update(v2.clone(), 1, vec![])).await.unwrap();
    let rows = ctx.raw.deadlines("acme", "case-1").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].7.as_str(), rows[0].8.as_str()),
        ("platform", "met")
    );

    let mut v3 = changed(&v2, CaseState::Closed);
    v3.deadlines.clear();
    s.write(update(v3, 2, vec![])).await.unwrap();
    assert!(ctx.raw.deadlines("acme", "case-1").await.is_empty());
}

/// An update rewrites only the deadline rows that changed, and rows past the case's last
/// deadline go: deleting and re-inserting every row wrote each of the table's indexes twice per
/// deadline on every case write, most of the WAL a SQLite update produced.
async fn an_update_rewrites_only_the_deadline_rows_that_changed(ctx: Ctx) {
    let s = &*ctx.store;
    ctx.raw.log_deadline_writes().await;
    let v1 = simple("acme", "case-1").case;
    s.write(insert(simple("acme", "case-1"))).await.unwrap();
    assert_eq!(
        ctx.raw.take_deadline_writes().await,
        vec!["insert case-1/0", "insert case-1/1"]
    );
    let rows_v1 = ctx.raw.deadlines("acme", "case-1").await;

    // Same deadlines, new state: no deadline row is written.
    let v2 = rewrite(s, &v1, |_| {}).await;
    assert_eq!(ctx.raw.take_deadline_writes().await, Vec::<String>::new());
    assert_eq!(ctx.raw.deadlines("acme", "case-1").await, rows_v1);

    // One deadline moves: only its row is rewritten.
    let v3 = rewrite(s, &v2, |c| c.deadlines[1].due_at += Duration::hours(1)).await;
    assert_eq!(
        ctx.raw.take_deadline_writes().await,
        vec!["update case-1/1"]
    );
    let rows = ctx.raw.deadlines("acme", "case-1").await;
    assert_eq!(rows[0], rows_v1[0]);
    assert_eq!(rows[1].4, rows_v1[1].4 + 3_600_000);

    // A sweeper's lease is dropped by the next write of the case even where nothing else
    // changed: that is how its claim completes.
    ctx.raw
        .execute(
            "UPDATE deadlines SET lease_owner = $1, lease_until = 1 WHERE position = 0",
            "sweeper-1",
        )
        .await;
    ctx.raw.take_deadline_writes().await;
    let v4 = rewrite(s, &v3, |_| {}).await;
    assert_eq!(
        ctx.raw.take_deadline_writes().await,
        vec!["update case-1/0"]
    );
    let leases: Vec<_> = ctx
        .raw
        .timer_columns("acme", "case-1")
        .await
        .into_iter()
        .map(|t| (t.4, t.5))
        .collect();
    assert_eq!(leases, vec![(None, None), (None, None)]);

    // The case loses its last deadline: that row goes, the first stays untouched.
    rewrite(s, &v4, |c| {
        c.deadlines.truncate(1);
    })
    .await;
    assert_eq!(
        ctx.raw.take_deadline_writes().await,
        vec!["delete case-1/1"]
    );
    assert_eq!(
        ctx.raw.deadlines("acme", "case-1").await,
        rows_v1[..1].to_vec()
    );
}

/// A case's identity (shop, platform, platform record, order line, opening time) is fixed when
/// it opens: the update statement no longer sets those columns (so SQLite does not rewrite
/// their indexes), and a write that changed one is refused whole instead of leaving the
/// columns disagreeing with the stored body.
async fn an_update_cannot_change_a_cases_identity(ctx: Ctx) {
    let s = &*ctx.store;
    let v1 = simple("acme", "case-1").case;
    s.write(insert(simple("acme", "case-1"))).await.unwrap();
    type IdentityEdit = (&'static str, fn(&mut Case));
    let edits: [IdentityEdit; 5] = [
        ("shop", |c| c.shop = ShopId::parse("shop-2").unwrap()),
        ("platform case id", |c| {
            c.platform_case_id = Some(PlatformCaseId::parse("p-9").unwrap())
        }),
        ("order", |c| c.order_id = None),
        ("sub-order", |c| {
            c.sub_order_id = Some(OrderId::parse("line-9").unwrap())
        }),
        ("opening time", |c| c.created_at += Duration::seconds(1)),
    ];
    for (what, edit) in edits {
        let mut next = changed(&v1, CaseState::AwaitingBuyer);
        edit(&mut next);
        let err = s
            .write(update(next, 1, vec![note(&v1, 1)]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::VersionConflict { expected: 1, .. }),
            "changing the {what}: {err:?}"
        );
        assert_eq!(s.case(&v1.tenant, &v1.id).await.unwrap(), Some(v1.clone()));
        let by_shop = CaseQuery {
            shop: Some(v1.shop.clone()),
            limit: 10,
            ..CaseQuery::default()
        };
        let listed = s.list_cases(&v1.tenant, &by_shop).await.unwrap();
        assert_eq!(listed, vec![v1.clone()], "changing the {what}");
    }
    // The same update without the identity change goes through.
    s.write(update(changed(&v1, CaseState::AwaitingBuyer), 1, vec![]))
        .await
        .unwrap();
}

async fn events_only_leaves_the_case_alone(ctx: Ctx) {
    let s = &*ctx.store;
    let change = simple("acme", "case-1");
    let original = change.case.clone();
    s.write(insert(change)).await.unwrap();
    let rows_before = ctx.raw.deadlines("acme", "case-1").await;

    // The case passed along is only where the events belong; its changes are not stored.
    let mut different = changed(&original, CaseState::Closed);
    different.deadlines.clear();
    let stored = s
        .write(CaseWrite {
            case: different,
            mode: WriteMode::EventsOnly,
            events: vec![note(&original, 7)],
            idempotency: None,
            caller: None,
        })
        .await
        .unwrap();
    assert_eq!(seqs(&stored), vec![2]);
    assert_eq!(
        s.case(&original.tenant, &original.id).await.unwrap(),
        Some(original.clone())
    );
    assert_eq!(ctx.raw.deadlines("acme", "case-1").await, rows_before);
    assert_eq!(
        s.case_events(&original.tenant, &original.id, 0, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    // Events for a case that was never stored are refused, and use up no seq.
    let ghost = simple("acme", "case-ghost").case;
    let err = s
        .write(CaseWrite {
            events: vec![note(&ghost, 8)],
            case: ghost,
            mode: WriteMode::EventsOnly,
            idempotency: None,
            caller: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Database(msg) if msg.contains("case-ghost")),
        "{err:?}"
    );
    assert_eq!(
        seqs(&s.write(insert(simple("acme", "case-2"))).await.unwrap()),
        vec![3]
    );
}

async fn concurrent_writers_get_contiguous_seqs(ctx: Ctx) {
    const TASKS: usize = 8;
    const WRITES: usize = 10;
    let mut handles = Vec::new();
    for t in 0..TASKS + 2 {
        let store = ctx.store.clone();
        // Two extra writers on another tenant, whose sequence must stay its own.
        let tenant_id = if t < TASKS { "acme" } else { "beta" };
        handles.push(tokio::spawn(async move {
            let mut per_write = Vec::new();
            for w in 0..WRITES {
                let change = simple(tenant_id, &format!("case-{t}-{w}"));
                let mut write = insert(change.clone());
                write.events.push(note(&change.case, w as i64));
                per_write.push(seqs(&store.write(write).await.unwrap()));
            }
            (tenant_id, per_write)
        }));
    }
    let mut acme_seqs = Vec::new();
    let mut beta_seqs = Vec::new();
    for h in handles {
        let (tenant_id, per_write) = h.await.unwrap();
        for s in per_write {
            assert_eq!(s.len(), 2);
            assert_eq!(s[1], s[0] + 1, "one write's events are contiguous: {s:?}");
            if tenant_id == "acme" {
                &mut acme_seqs
            } else {
                &mut beta_seqs
            }
            .extend(s);
        }
    }
    acme_seqs.sort_unstable();
    beta_seqs.sort_unstable();
    assert_eq!(
        acme_seqs,
        (1..=(TASKS * WRITES * 2) as i64).collect::<Vec<_>>()
    );
    assert_eq!(beta_seqs, (1..=(2 * WRITES * 2) as i64).collect::<Vec<_>>());
    let feed = ctx
        .store
        .tenant_events(&tenant("acme"), &[], 0, 1000)
        .await
        .unwrap();
    assert_eq!(
        seqs(&feed),
        acme_seqs,
        "the feed holds every seq once, in order"
    );

    // Racing updates of one case: exactly one wins, the losers leave nothing behind.
    let shared = simple("acme", "shared");
    ctx.store.write(insert(shared.clone())).await.unwrap();
    let mut racers = Vec::new();
    for t in 0..TASKS {
        let store = ctx.store.clone();
        let next = changed(&shared.case, CaseState::AwaitingBuyer);
        let event = note(&shared.case, t as i64);
        racers.push(tokio::spawn(async move {
            store.write(update(next, 1, vec![event])).await
        }));
    }
    let mut wins = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::VersionConflict { .. }) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    let events = ctx
        .store
        .case_events(&tenant("acme"), &shared.case.id, 0, 100)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    let last = (TASKS * WRITES * 2) as i64;
    assert_eq!(seqs(&events), vec![last + 1, last + 2]);
}

async fn api_keys_round_trip(ctx: Ctx) {
    let s = &*ctx.store;
    let key = ApiKeyRecord {
        key_id: "ak_live_1".into(),
        tenant: tenant("acme"),
        account: "alice@acme".into(),
        role: Role::Agent,
        platform_task: true,
        shops: ShopScope::Only(vec![ShopId::parse("jd-outlet").unwrap()]),
        secret_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        created_at: base(),
        created_by: "owner@acme".into(),
        revoked_at: None,
        expires_at: None,
        replaced_by: None,
    };
    s.insert_api_key(&key).await.unwrap();
    assert_eq!(s.api_key("ak_live_1").await.unwrap(), Some(key.clone()));
    assert_eq!(s.api_key("ak_live_2").await.unwrap(), None);

    let err = s.insert_api_key(&key).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { what } if what.contains("ak_live_1")),
        "{err:?}"
    );

    let revoked = ApiKeyRecord {
        key_id: "ak_live_2".into(),
        role: Role::Viewer,
        platform_task: false,
        revoked_at: Some(base() + Duration::days(1)),
        ..key
    };
    s.insert_api_key(&revoked).await.unwrap();
    assert_eq!(s.api_key("ak_live_2").await.unwrap(), Some(revoked));
}

fn key_record(key_id: &str, tenant_id: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        key_id: key_id.into(),
        tenant: tenant(tenant_id),
        account: "ops".into(),
        role: Role::Agent,
        platform_task: false,
        shops: ShopScope::AllShops,
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: base(),
        created_by: String::new(),
        revoked_at: None,
        expires_at: None,
        replaced_by: None,
    }
}

async fn api_keys_list_revoke_and_rotate_within_their_tenant(ctx: Ctx) {
    let s = &*ctx.store;
    for id in ["k1", "k2", "k3"] {
        s.insert_api_key(&key_record(id, "acme")).await.unwrap();
    }
    s.insert_api_key(&key_record("x1", "beta")).await.unwrap();
    let ids = |keys: Vec<ApiKeyRecord>| keys.into_iter().map(|k| k.key_id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_api_keys(&tenant("acme"), None, 10).await.unwrap()),
        ["k1", "k2", "k3"]
    );
    assert_eq!(
        ids(s
            .list_api_keys(&tenant("acme"), Some("k1"), 1)
            .await
            .unwrap()),
        ["k2"]
    );

    // Another tenant's key is not found, and stays unrevoked.
    let at = base() + Duration::hours(1);
    assert_eq!(
        s.revoke_api_key(&tenant("acme"), "x1", at).await.unwrap(),
        None
    );
    assert!(s.api_key("x1").await.unwrap().unwrap().revoked_at.is_none());
    let revoked = s
        .revoke_api_key(&tenant("acme"), "k1", at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    assert!(!revoked.is_active(at));
    // A second revocation keeps the first time.
    let again = s
        .revoke_api_key(&tenant("acme"), "k1", at + Duration::hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(at));

    // Rotation: the new key is stored and the old one works until its grace ends.
    let grace_end = at + Duration::minutes(10);
    let new = key_record("k4", "acme");
    let old = s
        .rotate_api_key(&tenant("acme"), "k2", &new, grace_end)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.expires_at, Some(grace_end));
    assert_eq!(old.replaced_by.as_deref(), Some("k4"));
    assert!(old.is_active(at) && !old.is_active(grace_end));
    assert_eq!(s.api_key("k4").await.unwrap(), Some(new));
    // No second successor for a rotated key, none for a revoked one, none across tenants.
    for (old_id, tenant_id) in [("k2", "acme"), ("k1", "acme")] {
        let err = s
            .rotate_api_key(
                &tenant(tenant_id),
                old_id,
                &key_record("k5", "acme"),
                grace_end,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Precondition(_)),
            "{old_id}: {err:?}"
        );
    }
    assert_eq!(
        s.rotate_api_key(&tenant("acme"), "x1", &key_record("k6", "acme"), grace_end)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.api_key("k5").await.unwrap(), None);
    assert_eq!(s.api_key("k6").await.unwrap(), None);
}

async fn events_record_their_caller_and_feed_by_shop(ctx: Ctx) {
    let s = &*ctx.store;
    let in_shop = |id: &str, shop: &str| {
        open(
            "acme",
            id,
            draft("demo", shop, CaseKind::RefundOnly, None),
            base(),
        )
    };
    let caller = Caller {
        account: "alice".into(),
        key_id: "00112233aabbccdd".into(),
    };
    let mut first = insert(in_shop("case-a", "shop-a"));
    first.caller = Some(caller.clone());
    let stored = s.write(first).await.unwrap();
    assert!(stored
        .iter()
        .all(|e| e.recorded_by.as_ref() == Some(&caller)));
    s.write(insert(in_shop("case-b", "shop-b"))).await.unwrap();

    let all = s.tenant_events(&tenant("acme"), &[], 0, 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].recorded_by.as_ref(), Some(&caller));
    // The engine's (caller-less) writes read back without one.
    assert_eq!(all[1].recorded_by, None);
    let shop_b = [ShopId::parse("shop-b").unwrap()];
    let only_b = s
        .tenant_events(&tenant("acme"), &shop_b, 0, 100)
        .await
        .unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].case_id.as_str(), "case-b");
    let listed = s
        .list_cases(
            &tenant("acme"),
            &CaseQuery {
                shops: shop_b.to_vec(),
                limit: 10,
                ..CaseQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.as_str(), "case-b");
}

async fn corrupt_rows_are_errors(ctx: Ctx) {
    let s = &*ctx.store;
    s.write(insert(simple("acme", "case-1"))).await.unwrap();
    s.write(insert(simple("acme", "case-2"))).await.unwrap();
    ctx.raw
        .execute("UPDATE cases SET body = 'not json' WHERE id = $1", "case-2")
        .await;
    ctx.raw
        .execute(
            "UPDATE case_events SET actor_kind = 'robot' WHERE seq = 1 AND tenant_id = $1",
            "acme",
        )
        .await;

    let err = s
        .case(&tenant("acme"), &CaseId::parse("case-2").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(msg) if msg.contains("cases") && msg.contains("case-2")),
        "{err:?}"
    );
    // A bad row fails the whole list rather than silently vanishing from it.
    let err = s
        .list_cases(
            &tenant("acme"),
            &CaseQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(s
        .case(&tenant("acme"), &CaseId::parse("case-1").unwrap())
        .await
        .unwrap()
        .is_some());

    let err = s
        .tenant_events(&tenant("acme"), &[], 0, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(msg) if msg.contains("case_events") && msg.contains("seq=1") && msg.contains("robot")),
        "{err:?}"
    );
    assert_eq!(
        seqs(&s.tenant_events(&tenant("acme"), &[], 1, 10).await.unwrap()),
        vec![2]
    );
}

/// The reads every write makes first (the case by its platform id, the cases on its order)
/// refuse a corrupt body as GetCase does, rather than answering "no such case" and letting an
/// ingest open a duplicate over it. On a SQLite file they run through the direct reader, not
/// sqlx (docs/benchmarks.md).
async fn corrupt_rows_fail_the_reads_a_write_makes_first(ctx: Ctx) {
    let s = &*ctx.store;
    let change = open(
        "acme",
        "case-1",
        draft("demo", "shop-1", CaseKind::RefundOnly, Some("p-1")),
        base(),
    );
    s.write(insert(change)).await.unwrap();
    ctx.raw
        .execute("UPDATE cases SET body = '{}' WHERE id = $1", "case-1")
        .await;
    let corrupt = |err: StoreError| {
        assert!(
            matches!(&err, StoreError::Corrupt(msg) if msg.contains("cases") && msg.contains("case-1")),
            "{err:?}"
        )
    };
    corrupt(
        s.case_by_platform_id(
            &tenant("acme"),
            &PlatformCode::parse("demo").unwrap(),
            &PlatformCaseId::parse("p-1").unwrap(),
        )
        .await
        .unwrap_err(),
    );
    corrupt(
        s.cases_on_order(&tenant("acme"), &order("demo", "shop-1", "order-1"))
            .await
            .unwrap_err(),
    );
}

async fn timer_claims_take_due_timers_earliest_first(ctx: Ctx) {
    let s = &*ctx.store;
    let h = |n: i64| base() + Duration::hours(n);
    let m30 = base() + Duration::minutes(30);
    s.write(insert(opened_at("acme", "c-a", base())))
        .await
        .unwrap();
    s.write(insert(opened_at("acme", "c-b", h(1))))
        .await
        .unwrap();
    s.write(insert(opened_at("acme", "c-c", h(2))))
        .await
        .unwrap();
    // The sweep is across tenants.
    s.write(insert(opened_at("beta", "c-d", m30)))
        .await
        .unwrap();

    let before = remind0(base()) - Duration::milliseconds(1);
    assert!(s
        .claim_due_timers(&claim("w1", before, 10))
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .claim_due_timers(&claim("w1", h(200), 0))
        .await
        .unwrap()
        .is_empty());

    // Only reminders are due; the limit takes the earliest.
    let now = remind0(base()) + Duration::minutes(90);
    let got = s.claim_due_timers(&claim("w1", now, 2)).await.unwrap();
    assert_eq!(
        timers(&got),
        vec![
            reminder("acme/c-a/0", remind0(base())),
            reminder("beta/c-d/0", remind0(m30)),
        ]
    );
    s.release_timers("w1", &got).await.unwrap();
    let got = s.claim_due_timers(&claim("w1", now, 10)).await.unwrap();
    assert_eq!(
        timers(&got),
        vec![
            reminder("acme/c-a/0", remind0(base())),
            reminder("beta/c-d/0", remind0(m30)),
            reminder("acme/c-b/0", remind0(h(1))),
        ],
        "c-c's reminder is not due yet"
    );
    s.release_timers("w1", &got).await.unwrap();

    // Three deadlines have passed: they are expiries now, not reminders, and come before the
    // one reminder still due even though that reminder's time is earlier. Deadline 1 of each
    // case is still in the future.
    let now = due0(h(1)) + Duration::minutes(30);
    let got = s.claim_due_timers(&claim("w1", now, 10)).await.unwrap();
    assert_eq!(
        timers(&got),
        vec![
            expiry("acme/c-a/0", due0(base())),
            expiry("beta/c-d/0", due0(m30)),
            expiry("acme/c-b/0", due0(h(1))),
            reminder("acme/c-c/0", remind0(h(2))),
        ]
    );
    s.release_timers("w1", &got).await.unwrap();

    // A full batch of expiries leaves no room for reminders; the next claim gets them.
    let got = s.claim_due_timers(&claim("w1", now, 3)).await.unwrap();
    assert!(got.iter().all(|t| t.kind == TimerKind::Expiry), "{got:?}");
    assert_eq!(got.len(), 3);
    let got = s.claim_due_timers(&claim("w2", now, 3)).await.unwrap();
    assert_eq!(timers(&got), vec![reminder("acme/c-c/0", remind0(h(2)))]);
}

async fn claimed_timers_are_leased_until_the_lease_ends(ctx: Ctx) {
    let s = &*ctx.store;
    s.write(insert(opened_at("acme", "c-1", base())))
        .await
        .unwrap();
    let now = base() + Duration::days(8);
    let want = vec![
        expiry("acme/c-1/0", due0(base())),
        expiry("acme/c-1/1", due1(base())),
    ];
    let first = s.claim_due_timers(&claim("w1", now, 10)).await.unwrap();
    assert_eq!(timers(&first), want);
    let rows = ctx.raw.timer_columns("acme", "c-1").await;
    assert!(
        rows.iter().all(
            |r| r.4.as_deref() == Some("w1") && r.5 == Some((now + lease()).timestamp_millis())
        ),
        "{rows:?}"
    );

    assert!(s
        .claim_due_timers(&claim("w1", now, 10))
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .claim_due_timers(&claim("w2", now, 10))
        .await
        .unwrap()
        .is_empty());
    let almost = now + lease() - Duration::milliseconds(1);
    assert!(s
        .claim_due_timers(&claim("w2", almost, 10))
        .await
        .unwrap()
        .is_empty());

    // w1 crashed: once its lease ends another sweeper takes the timers over.
    let later = now + lease();
    let rescued = s.claim_due_timers(&claim("w2", later, 10)).await.unwrap();
    assert_eq!(timers(&rescued), want);
    assert!(s
        .claim_due_timers(&claim("w1", later, 10))
        .await
        .unwrap()
        .is_empty());
    let rows = ctx.raw.timer_columns("acme", "c-1").await;
    assert!(
        rows.iter().all(|r| r.4.as_deref() == Some("w2")),
        "{rows:?}"
    );
}

async fn released_timers_are_claimable_at_once(ctx: Ctx) {
    let s = &*ctx.store;
    let h1 = base() + Duration::hours(1);
    s.write(insert(opened_at("acme", "c-1", base())))
        .await
        .unwrap();
    s.write(insert(opened_at("acme", "c-2", h1))).await.unwrap();
    let now = base() + Duration::days(8);

    let w1 = s.claim_due_timers(&claim("w1", now, 2)).await.unwrap();
    assert_eq!(
        timers(&w1),
        vec![
            expiry("acme/c-1/0", due0(base())),
            expiry("acme/c-2/0", due0(h1))
        ]
    );
    let w2 = s.claim_due_timers(&claim("w2", now, 2)).await.unwrap();
    assert_eq!(
        timers(&w2),
        vec![
            expiry("acme/c-1/1", due1(base())),
            expiry("acme/c-2/1", due1(h1))
        ]
    );

    s.release_timers("w2", &[]).await.unwrap();
    // w2 releasing everything frees only what it holds.
    let everything: Vec<ClaimedTimer> = w1.iter().chain(&w2).cloned().collect();
    s.release_timers("w2", &everything).await.unwrap();
    let w3 = s.claim_due_timers(&claim("w3", now, 10)).await.unwrap();
    assert_eq!(timers(&w3), timers(&w2));

    s.release_timers("w1", &w1[..1]).await.unwrap();
    let w4 = s.claim_due_timers(&claim("w4", now, 10)).await.unwrap();
    assert_eq!(timers(&w4), timers(&w1[..1]));
    let rows = ctx.raw.timer_columns("acme", "c-2").await;
    assert_eq!(
        (rows[0].4.as_deref(), rows[1].4.as_deref()),
        (Some("w1"), Some("w3"))
    );
}

async fn writing_a_case_completes_its_timers(ctx: Ctx) {
    let s = &*ctx.store;
    let mut cases = Vec::new();
    for id in ["c-1", "c-2", "c-3"] {
        let change = opened_at("acme", id, base());
        cases.push(change.case.clone());
        s.write(insert(change)).await.unwrap();
    }
    let now = remind0(base()) + Duration::hours(1);
    let got = s.claim_due_timers(&claim("w1", now, 10)).await.unwrap();
    assert_eq!(
        timers(&got),
        ["c-1", "c-2", "c-3"]
            .map(|c| reminder(&format!("acme/{c}/0"), remind0(base())))
            .to_vec()
    );

    // Any write of the case replaces its rows, dropping the lease.
    let c1 = rewrite(s, &cases[0], |_| {}).await;
    let rows = ctx.raw.timer_columns("acme", "c-1").await;
    assert_eq!(
        rows,
        vec![
            (
                0,
                Some("shop-1".into()),
                Some("demo".into()),
                None,
                None,
                None
            ),
            (
                1,
                Some("shop-1".into()),
                Some("demo".into()),
                None,
                None,
                None
            ),
        ]
    );
    let got = s.claim_due_timers(&claim("w2", now, 10)).await.unwrap();
    assert_eq!(timers(&got), vec![reminder("acme/c-1/0", remind0(base()))]);

    // The sweeper sent the reminder and wrote the case: that reminder is done for good...
    let c1 = rewrite(s, &c1, |c| c.deadlines[0].reminded_at = Some(now)).await;
    assert_eq!(
        ctx.raw.timer_columns("acme", "c-1").await[0].3,
        Some(now.timestamp_millis())
    );
    assert!(s
        .claim_due_timers(&claim("w3", now, 10))
        .await
        .unwrap()
        .is_empty());
    let got = s
        .claim_due_timers(&claim("w3", now + lease(), 10))
        .await
        .unwrap();
    assert_eq!(
        timers(&got),
        vec![
            reminder("acme/c-2/0", remind0(base())),
            reminder("acme/c-3/0", remind0(base())),
        ],
        "only w1's other reminders, once its lease ran out"
    );

    // ...but the deadline still expires. Closed deadlines do not.
    let c2 = rewrite(s, &cases[1], |c| c.deadlines[0].state = DeadlineState::Met).await;
    let c3 = rewrite(s, &cases[2], |c| {
        c.deadlines[0].state = DeadlineState::Cancelled
    })
    .await;
    let later = base() + Duration::days(8);
    let got = s.claim_due_timers(&claim("w4", later, 10)).await.unwrap();
    assert_eq!(
        timers(&got),
        vec![
            expiry("acme/c-1/0", due0(base())),
            expiry("acme/c-1/1", due1(base())),
            expiry("acme/c-2/1", due1(base())),
            expiry("acme/c-3/1", due1(base())),
        ]
    );
    let c1 = rewrite(s, &c1, |c| c.deadlines[0].state = DeadlineState::Fired).await;
    s.release_timers("w4", &got).await.unwrap();
    let got = s.claim_due_timers(&claim("w5", later, 10)).await.unwrap();
    assert_eq!(
        timers(&got),
        vec![
            expiry("acme/c-1/1", due1(base())),
            expiry("acme/c-2/1", due1(base())),
            expiry("acme/c-3/1", due1(base())),
        ]
    );

    for c in [&c1, &c2, &c3] {
        rewrite(s, c, |c| c.deadlines[1].state = DeadlineState::Fired).await;
    }
    assert!(s
        .claim_due_timers(&claim("w6", later + Duration::days(30), 10))
        .await
        .unwrap()
        .is_empty());
}

async fn concurrent_claims_never_share_a_timer(ctx: Ctx) {
    const CASES: usize = 100;
    const CLAIMERS: usize = 4;
    for i in 0..CASES {
        let at = base() + Duration::minutes(i as i64);
        ctx.store
            .write(insert(opened_at("acme", &format!("c-{i:03}"), at)))
            .await
            .unwrap();
    }
    let now = base() + Duration::days(30);
    let mut handles = Vec::new();
    for w in 0..CLAIMERS {
        let store = ctx.store.clone();
        handles.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_due_timers(&claim(&owner, now, 7))
                    .await
                    .unwrap();
                assert!(got.len() <= 7);
                if got.is_empty() {
                    break;
                }
                mine.extend(got);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    assert_eq!(all.len(), CASES * 2, "every timer claimed exactly once");
    let mut keys: Vec<String> = timers(&all).into_iter().map(|t| t.1).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), CASES * 2, "no timer claimed twice");
    assert!(all.iter().all(|t| t.kind == TimerKind::Expiry));
    assert!(ctx
        .store
        .claim_due_timers(&claim("late", now, 7))
        .await
        .unwrap()
        .is_empty());
}

async fn next_timer_at_is_the_earliest_pending_timer(ctx: Ctx) {
    let s = &*ctx.store;
    assert_eq!(s.next_timer_at().await.unwrap(), None);

    let c1 = opened_at("acme", "c-1", base()).case;
    s.write(insert(opened_at("acme", "c-1", base())))
        .await
        .unwrap();
    assert_eq!(s.next_timer_at().await.unwrap(), Some(remind0(base())));

    // A sent reminder no longer counts; the deadline itself does.
    let c1 = rewrite(s, &c1, |c| {
        c.deadlines[0].reminded_at = Some(remind0(base()))
    })
    .await;
    assert_eq!(s.next_timer_at().await.unwrap(), Some(due0(base())));

    // A leased timer is still pending work.
    let now = due0(base()) + Duration::minutes(1);
    assert_eq!(
        s.claim_due_timers(&claim("w1", now, 10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.next_timer_at().await.unwrap(), Some(due0(base())));

    let earlier = base() - Duration::days(1);
    let c2 = opened_at("beta", "c-2", earlier).case;
    s.write(insert(opened_at("beta", "c-2", earlier)))
        .await
        .unwrap();
    assert_eq!(s.next_timer_at().await.unwrap(), Some(remind0(earlier)));

    let c1 = rewrite(s, &c1, |c| c.deadlines[0].state = DeadlineState::Fired).await;
    let _ = rewrite(s, &c2, |c| {
        for d in &mut c.deadlines {
            d.state = DeadlineState::Cancelled;
        }
    })
    .await;
    assert_eq!(s.next_timer_at().await.unwrap(), Some(due1(base())));
    let _ = rewrite(s, &c1, |c| c.deadlines[1].state = DeadlineState::Met).await;
    assert_eq!(s.next_timer_at().await.unwrap(), None);
}

async fn list_due_deadlines_orders_filters_and_pages(ctx: Ctx) {
    let s = &*ctx.store;
    let acme = tenant("acme");
    let mut cases = Vec::new();
    // Out of id order; three cases share each opening hour, so due times tie across cases and
    // paging must break ties by case id and position.
    for i in (0..12).map(|i| (i * 5) % 12) {
        let platform = if i % 3 == 0 { "other" } else { "demo" };
        let shop = format!("shop-{}", i % 2);
        let mut change = open(
            "acme",
            &format!("c-{i:02}"),
            draft(platform, &shop, CaseKind::RefundOnly, None),
            base() + Duration::hours(i as i64 / 3),
        );
        match i {
            5 => change
                .case
                .deadlines
                .iter_mut()
                .for_each(|d| d.state = DeadlineState::Cancelled),
            // Deadline 1 stays active behind a closed deadline 0.
            7 => change.case.deadlines[0].state = DeadlineState::Met,
            _ => {}
        }
        cases.push(change.case.clone());
        s.write(insert(change)).await.unwrap();
    }
    for i in 0..3 {
        s.write(insert(opened_at("beta", &format!("c-{i:02}"), base())))
            .await
            .unwrap();
    }

    let mut all: Vec<DueDeadline> = cases
        .iter()
        .flat_map(|c| {
            c.deadlines
                .iter()
                .enumerate()
                .filter(|(_, d)| d.state == DeadlineState::Active)
                .map(|(p, d)| DueDeadline {
                    tenant: c.tenant.clone(),
                    case_id: c.id.clone(),
                    shop: c.shop.clone(),
                    platform: c.platform.clone(),
                    position: p as u32,
                    deadline: d.clone(),
                })
        })
        .collect();
    all.sort_by(|a, b| {
        (a.deadline.due_at, &a.case_id, a.position).cmp(&(
            b.deadline.due_at,
            &b.case_id,
            b.position,
        ))
    });
    assert_eq!(all.len(), 12 * 2 - 3);

    let page_all = |q: DueDeadlineQuery, limit: u32| {
        let acme = &acme;
        async move {
            let mut q = DueDeadlineQuery {
                limit,
                after: None,
                ..q
            };
            let (mut got, mut sizes) = (Vec::new(), Vec::new());
            loop {
                let page = s.list_due_deadlines(acme, &q).await.unwrap();
                sizes.push(page.len());
                got.extend(page.iter().cloned());
                if page.len() < limit as usize {
                    break;
                }
                let last = page.last().unwrap();
                q.after = Some(DueDeadlineCursor {
                    due_at: last.deadline.due_at,
                    case_id: last.case_id.clone(),
                    position: last.position,
                });
            }
            (got, sizes)
        }
    };

    let (got, sizes) = page_all(DueDeadlineQuery::default(), 4).await;
    assert_eq!(sizes, vec![4, 4, 4, 4, 4, 1]);
    assert_eq!(
        got, all,
        "every active deadline once, by due time, case, position"
    );
    let one = s
        .list_due_deadlines(
            &acme,
            &DueDeadlineQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(one, all);
    assert!(s
        .list_due_deadlines(&acme, &DueDeadlineQuery::default())
        .await
        .unwrap()
        .is_empty());

    let cutoff = due0(base() + Duration::hours(2));
    type Keep = Box<dyn Fn(&DueDeadline) -> bool + Send + Sync>;
    let filters: Vec<(&str, DueDeadlineQuery, Keep)> = vec![
        (
            "shop",
            DueDeadlineQuery {
                shop: Some(ShopId::parse("shop-1").unwrap()),
                ..Default::default()
            },
            Box::new(|d: &DueDeadline| d.shop.as_str() == "shop-1"),
        ),
        (
            "platform",
            DueDeadlineQuery {
                platform: Some(PlatformCode::parse("other").unwrap()),
                ..Default::default()
            },
            Box::new(|d: &DueDeadline| d.platform.as_str() == "other"),
        ),
        (
            "due party",
            DueDeadlineQuery {
                due_party: Some(DueParty::Buyer),
                ..Default::default()
            },
            Box::new(|d: &DueDeadline| d.deadline.due_party == DueParty::Buyer),
        ),
        (
            "due before (exclusive)",
            DueDeadlineQuery {
                due_before: Some(cutoff),
                ..Default::default()
            },
            Box::new(move |d: &DueDeadline| d.deadline.due_at < cutoff),
        ),
        (
            "combined",
            DueDeadlineQuery {
                shop: Some(ShopId::parse("shop-0").unwrap()),
                platform: Some(PlatformCode::parse("demo").unwrap()),
                due_party: Some(DueParty::Merchant),
                ..Default::default()
            },
            Box::new(|d: &DueDeadline| {
                d.shop.as_str() == "shop-0"
                    && d.platform.as_str() == "demo"
                    && d.deadline.due_party == DueParty::Merchant
            }),
        ),
    ];
    for (name, query, keep) in filters {
        let want: Vec<DueDeadline> = all.iter().filter(|d| keep(d)).cloned().collect();
        assert!(
            !want.is_empty() && want.len() < all.len(),
            "filter {name} should select some deadlines"
        );
        let (got, _) = page_all(query, 2).await;
        assert_eq!(got, want, "filter {name}");
    }
    assert!(
        all.iter().any(|d| d.deadline.due_at == cutoff),
        "the due-before bound falls on a due time"
    );

    let beta = s
        .list_due_deadlines(
            &tenant("beta"),
            &DueDeadlineQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(beta.len(), 6);
    assert!(beta.iter().all(|d| d.tenant.as_str() == "beta"));
}

async fn due_deadline_rows_out_of_step_with_the_case_are_corrupt(ctx: Ctx) {
    let s = &*ctx.store;
    let query = DueDeadlineQuery {
        limit: 10,
        ..Default::default()
    };
    let mut change = opened_at("acme", "c-1", base());
    change.case.deadlines[1].state = DeadlineState::Cancelled;
    s.write(insert(change)).await.unwrap();
    assert_eq!(
        s.list_due_deadlines(&tenant("acme"), &query)
            .await
            .unwrap()
            .len(),
        1
    );

    ctx.raw
        .execute(
            "UPDATE deadlines SET state = 'active' WHERE case_id = $1 AND position = 1",
            "c-1",
        )
        .await;
    let err = s
        .list_due_deadlines(&tenant("acme"), &query)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(msg)
            if msg.contains("deadlines") && msg.contains("c-1") && msg.contains("position=1")
                && msg.contains("cancelled")),
        "{err:?}"
    );

    ctx.raw
        .execute(
            "UPDATE deadlines SET position = 9 WHERE case_id = $1 AND position = 1",
            "c-1",
        )
        .await;
    let err = s
        .list_due_deadlines(&tenant("acme"), &query)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(msg)
            if msg.contains("deadlines") && msg.contains("c-1") && msg.contains("position=9")),
        "{err:?}"
    );
}

/// Polls every future in one task, so all of them start before any finishes: concurrent
/// callers as a loaded server has them, without a runtime's scheduling in between.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(done) => *output = Some(done),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("ready")).collect()
}

/// `lookups` lookups were answered, by fewer statements than that (some carried several).
fn assert_grouped(stats: aftersales_store::postgres_grouped_reads::GroupedReadStats, lookups: u64) {
    assert_eq!(stats.lookups, lookups, "{stats:?}");
    assert!(
        stats.batches < stats.lookups && stats.largest_batch > 1,
        "lookups were not grouped: {stats:?}"
    );
}

/// Runs the writes together and fails on the first that failed.
async fn write_all<T: std::fmt::Debug, F: Future<Output = Result<T, StoreError>>>(writes: Vec<F>) {
    for written in join_all(writes).await {
        written.unwrap();
    }
}

/// PostgreSQL's plan for `sql` with text arrays bound in order, once `table` is analysed and
/// sequential scans are off (on a small table a scan ties with any index): which indexes the
/// statement can read through.
async fn index_plan(ctx: &Ctx, table: &str, sql: &str, arrays: Vec<Vec<&str>>) -> String {
    index_plan_with(ctx, table, sql, arrays, |q| q).await
}

type PlanQuery<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, (String,), sqlx::postgres::PgArguments>;

/// [`index_plan`] with `more` bound after the arrays.
async fn index_plan_with(
    ctx: &Ctx,
    table: &str,
    sql: &str,
    arrays: Vec<Vec<&str>>,
    more: impl for<'q> FnOnce(PlanQuery<'q>) -> PlanQuery<'q>,
) -> String {
    sqlx::query(&format!("ANALYZE {table}"))
        .execute(ctx.postgres_raw())
        .await
        .unwrap();
    let mut tx = ctx.postgres_raw().begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let explain = format!("EXPLAIN {sql}");
    let mut query = sqlx::query_as::<_, (String,)>(&explain);
    for array in arrays {
        query = query.bind(array);
    }
    let plan = more(query).fetch_all(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    plan.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
}

/// Lookups of one case that run together (on PostgreSQL, in one statement, whichever way
/// they ask) each get their own case: the same id — or the same platform id — in another
/// tenant is another case, and a missing one is None.
async fn concurrent_case_lookups_each_get_their_own_answer(ctx: Ctx) {
    let s = &*ctx.store;
    let mut stored = std::collections::HashMap::new();
    for (t, id, platform_case_id) in [
        ("acme", "c-1", Some("tb-1")),
        ("acme", "c-2", None),
        ("beta", "c-1", Some("tb-2")),
        ("beta", "c-3", Some("tb-1")),
    ] {
        let change = open(
            t,
            id,
            draft("demo", "shop-1", CaseKind::RefundOnly, platform_case_id),
            base(),
        );
        stored.insert((t, id), change.case.clone());
        s.write(insert(change)).await.unwrap();
    }
    enum Ask {
        Id(&'static str, &'static str),
        PlatformId(&'static str, &'static str, &'static str),
    }
    // With what each should find: (tenant, case id).
    let asked: Vec<(Ask, Option<(&str, &str)>)> = (0..64)
        .map(|i| match i % 10 {
            0 => (Ask::Id("acme", "c-1"), Some(("acme", "c-1"))),
            1 => (Ask::Id("beta", "c-1"), Some(("beta", "c-1"))),
            2 => (Ask::Id("acme", "c-2"), Some(("acme", "c-2"))),
            // c-2 is acme's only.
            3 => (Ask::Id("beta", "c-2"), None),
            4 => (Ask::Id("acme", "missing"), None),
            5 => (
                Ask::PlatformId("acme", "demo", "tb-1"),
                Some(("acme", "c-1")),
            ),
            // The same platform id is another tenant's other case.
            6 => (
                Ask::PlatformId("beta", "demo", "tb-1"),
                Some(("beta", "c-3")),
            ),
            7 => (
                Ask::PlatformId("beta", "demo", "tb-2"),
                Some(("beta", "c-1")),
            ),
            // tb-2 is beta's only; and no case has it on another platform.
            8 => (Ask::PlatformId("acme", "demo", "tb-2"), None),
            _ => (Ask::PlatformId("acme", "jd", "tb-1"), None),
        })
        .collect();
    let lookups = asked
        .iter()
        .map(|(ask, _)| async move {
            match ask {
                Ask::Id(t, id) => s.case(&tenant(t), &CaseId::parse(*id).unwrap()).await,
                Ask::PlatformId(t, p, pid) => {
                    let (p, pid) = (
                        PlatformCode::parse(*p).unwrap(),
                        PlatformCaseId::parse(*pid).unwrap(),
                    );
                    s.case_by_platform_id(&tenant(t), &p, &pid).await
                }
            }
        })
        .collect();
    for (i, ((_, want), got)) in asked.iter().zip(join_all(lookups).await).enumerate() {
        assert_eq!(
            got.unwrap(),
            want.and_then(|key| stored.get(&key).cloned()),
            "lookup {i} (kind {})",
            i % 10
        );
    }
}

/// Lookups of a stored request that run together (on PostgreSQL, in one statement) each get
/// their own: request ids are per tenant, and a missing one is None (AIP-155).
async fn concurrent_request_lookups_each_get_their_own_answer(ctx: Ctx) {
    let s = &*ctx.store;
    let record = |request_id: &str, response: &[u8]| IdempotencyRecord {
        request_id: request_id.into(),
        method: "/aftersales.v1.AftersalesService/AgreeCase".into(),
        fingerprint: format!("sha256:{request_id}"),
        response: response.to_vec(),
        created_at: base(),
    };
    let mut stored = std::collections::HashMap::new();
    for (t, id, request_id, response) in [
        ("acme", "c-1", "req-1", &b"acme one"[..]),
        ("acme", "c-2", "req-2", &b"acme two"[..]),
        ("beta", "c-1", "req-1", &b"beta one"[..]),
    ] {
        let mut write = insert(simple(t, id));
        write.idempotency = Some(record(request_id, response));
        stored.insert((t, request_id), record(request_id, response));
        s.write(write).await.unwrap();
    }
    let asked: Vec<(&str, &str)> = (0..64)
        .map(|i| match i % 5 {
            0 => ("acme", "req-1"),
            1 => ("beta", "req-1"),
            2 => ("acme", "req-2"),
            // req-2 is acme's only.
            3 => ("beta", "req-2"),
            _ => ("acme", "req-missing"),
        })
        .collect();
    let lookups = asked
        .iter()
        .map(|(t, request_id)| async move { s.idempotent_response(&tenant(t), request_id).await })
        .collect();
    for ((t, request_id), got) in asked.iter().zip(join_all(lookups).await) {
        assert_eq!(
            got.unwrap(),
            stored.get(&(*t, *request_id)).cloned(),
            "lookup of {t}/{request_id}"
        );
    }
}

/// A caller that stops waiting while its statement runs (a cancelled GetCase) does not strand
/// the lookups queued behind it: the next one takes the turn and they are all answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_case_lookups_outlive_a_cancelled_statement() {
    on_postgres(Start::Empty, |ctx| async move {
        // Two connections: one for reads, so one statement of lookups at a time.
        let store = ctx.postgres_store(2).await;
        let change = simple("acme", "c-1");
        let case = change.case.clone();
        store.write(insert(change)).await.unwrap();

        // Every read of `cases` waits while this holds the table; `probe` watches.
        let mut lock = ctx.postgres_raw().begin().await.unwrap();
        let mut probe = PgConnection::connect_with(ctx.postgres_options())
            .await
            .unwrap();
        sqlx::query("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *lock)
            .await
            .unwrap();
        let lookup = |store: &PostgresStore| {
            let store = store.clone();
            tokio::spawn(async move {
                let (t, id) = (tenant("acme"), CaseId::parse("c-1").unwrap());
                store.case(&t, &id).await
            })
        };
        let waiting = |n: u64| {
            let store = store.clone();
            async move {
                while store.case_read_stats().waiting != n {
                    tokio::task::yield_now().await;
                }
            }
        };
        let first = lookup(&store);
        // Until the first statement waits for the table.
        let waiting_on_lock =
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                               WHERE c.relname = 'cases' AND NOT l.granted";
        loop {
            let (blocked,): (i64,) = sqlx::query_as(waiting_on_lock)
                .fetch_one(&mut probe)
                .await
                .unwrap();
            if blocked > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        // Queued one after the other, so the first of them is the next to run a statement.
        let mut rest = Vec::new();
        for n in 1..=5 {
            rest.push(lookup(&store));
            waiting(n).await;
        }
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        // The turn went to the next, which took the other four along; it is stopped too,
        // with them in hand.
        waiting(0).await;
        let second = rest.remove(0);
        second.abort();
        assert!(second.await.unwrap_err().is_cancelled());
        lock.rollback().await.unwrap();
        for waiter in rest {
            let got = tokio::time::timeout(std::time::Duration::from_secs(30), waiter)
                .await
                .expect("a queued lookup was stranded")
                .unwrap();
            assert_eq!(got.unwrap().as_ref(), Some(&case));
        }
        assert_eq!(store.case_read_stats().waiting, 0);
        store.close().await;
    })
    .await
}

/// PostgreSQL answers concurrent lookups of one case — by id (GetCase, every action) and by
/// platform id (every ingest) — with fewer statements than lookups, each a join on the
/// primary key or on the platform id's unique index (docs/benchmarks.md: a round trip costs
/// the backend more than the SELECT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_groups_concurrent_case_lookups_into_index_reads() {
    on_postgres(Start::Empty, |ctx| async move {
        let store = ctx.postgres_store(8).await;
        let change = open(
            "acme",
            "c-1",
            draft("demo", "shop-1", CaseKind::RefundOnly, Some("tb-1")),
            base(),
        );
        let case = change.case.clone();
        store.write(insert(change)).await.unwrap();
        let (t, id) = (tenant("acme"), CaseId::parse("c-1").unwrap());
        let (p, pid) = (
            PlatformCode::parse("demo").unwrap(),
            PlatformCaseId::parse("tb-1").unwrap(),
        );
        let lookups = (0..64)
            .map(|i| {
                let store = &store;
                let (t, id, p, pid) = (&t, &id, &p, &pid);
                async move {
                    if i % 2 == 0 {
                        store.case(t, id).await
                    } else {
                        store.case_by_platform_id(t, p, pid).await
                    }
                }
            })
            .collect();
        for got in join_all(lookups).await {
            assert_eq!(got.unwrap().as_ref(), Some(&case));
        }
        assert_grouped(store.case_read_stats(), 64);
        // The plan, on enough cases of one tenant that only the two unique indexes find a
        // case without reading the tenant's others (on an empty table any index ties).
        let writes = (0..300)
            .map(|i| {
                let pid = format!("tb-m-{i}");
                let draft = draft("demo", "shop-1", CaseKind::RefundOnly, Some(&pid));
                store.write(insert(open("acme", &format!("m-{i}"), draft, base())))
            })
            .collect();
        write_all(writes).await;
        store.close().await;
        // The format in force, then whether each id is GetCase's.
        let plan = index_plan_with(
            &ctx,
            "cases",
            aftersales_store::postgres_grouped_reads::SELECT_CASES_BY_KEYS,
            vec![
                vec!["acme", "beta"],
                vec!["c-1", "c-2"],
                vec!["acme"],
                vec!["demo"],
                vec!["tb-1"],
            ],
            |q| q.bind(7_i64).bind(vec![true, false]),
        )
        .await;
        assert!(plan.contains("cases_pkey"), "{plan}");
        assert!(plan.contains("cases_platform_case_id_key"), "{plan}");
    })
    .await
}

/// PostgreSQL answers concurrent lookups of a stored request (every action with a request id
/// reads one first) with fewer statements than lookups, each a join on the primary key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_groups_concurrent_request_lookups_into_primary_key_reads() {
    on_postgres(Start::Empty, |ctx| async move {
        let store = ctx.postgres_store(8).await;
        let record = IdempotencyRecord {
            request_id: "req-1".into(),
            method: "/aftersales.v1.AftersalesService/AgreeCase".into(),
            fingerprint: "sha256:abc".into(),
            response: vec![0, 1, 2, 255],
            created_at: base(),
        };
        let mut write = insert(simple("acme", "c-1"));
        write.idempotency = Some(record.clone());
        store.write(write).await.unwrap();
        let acme = tenant("acme");
        let lookups = (0..64)
            .map(|_| store.idempotent_response(&acme, "req-1"))
            .collect();
        for got in join_all(lookups).await {
            assert_eq!(got.unwrap().as_ref(), Some(&record));
        }
        assert_grouped(store.request_read_stats(), 64);
        let writes = (0..300)
            .map(|i| {
                let mut write = insert(simple("acme", &format!("m-{i}")));
                write.idempotency = Some(IdempotencyRecord {
                    request_id: format!("req-m-{i}"),
                    ..record.clone()
                });
                store.write(write)
            })
            .collect();
        write_all(writes).await;
        store.close().await;
        let plan = index_plan(
            &ctx,
            "idempotency_keys",
            aftersales_store::postgres_grouped_reads::SELECT_REQUESTS_BY_KEYS,
            vec![vec!["acme", "beta"], vec!["req-1", "req-2"]],
        )
        .await;
        assert!(plan.contains("idempotency_keys_pkey"), "{plan}");
    })
    .await
}

async fn cases_by_ids_returns_the_stored_cases(ctx: Ctx) {
    let s = &*ctx.store;
    assert!(s.cases_by_ids(&[]).await.unwrap().is_empty());
    let mut stored = Vec::new();
    for (t, id) in [
        ("acme", "c-1"),
        ("acme", "c-2"),
        ("beta", "c-1"),
        ("acme", "c-3"),
    ] {
        let change = simple(t, id);
        stored.push(change.case.clone());
        s.write(insert(change)).await.unwrap();
    }
    let key = |t: &str, id: &str| (tenant(t), CaseId::parse(id).unwrap());
    let sorted = |mut cases: Vec<Case>| {
        cases.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
        cases
    };

    let got = s
        .cases_by_ids(&[
            key("acme", "c-2"),
            key("acme", "missing"),
            key("beta", "c-1"),
            key("acme", "c-1"),
            key("acme", "c-2"),
            // c-3 exists for acme only.
            key("beta", "c-3"),
        ])
        .await
        .unwrap();
    assert_eq!(
        sorted(got),
        vec![stored[0].clone(), stored[1].clone(), stored[2].clone()]
    );

    // More keys than one statement takes: the present ones are found in every chunk.
    let mut many: Vec<_> = (0..1200).map(|i| key("acme", &format!("m-{i}"))).collect();
    many.insert(0, key("acme", "c-1"));
    many.insert(700, key("beta", "c-1"));
    many.push(key("acme", "c-3"));
    let got = s.cases_by_ids(&many).await.unwrap();
    assert_eq!(
        sorted(got),
        vec![stored[0].clone(), stored[3].clone(), stored[2].clone()]
    );
}

async fn timer_migration_backfills_existing_deadlines(ctx: Ctx) {
    let s = &*ctx.store;
    let [acme_case, beta_case] = upgraded_cases();
    let unleased = |shop: &str, platform: &str| {
        (0..2)
            .map(|p| {
                (
                    p,
                    Some(shop.into()),
                    Some(platform.into()),
                    None,
                    None,
                    None,
                )
            })
            .collect::<Vec<TimerColumns>>()
    };
    assert_eq!(
        ctx.raw.timer_columns("acme", "c-1").await,
        unleased("shop-a", "demo")
    );
    assert_eq!(
        ctx.raw.timer_columns("beta", "c-1").await,
        unleased("shop-b", "other")
    );

    // The backfilled rows serve the work queue and the sweep like rows written since.
    let shop_a = DueDeadlineQuery {
        shop: Some(ShopId::parse("shop-a").unwrap()),
        limit: 10,
        ..Default::default()
    };
    let queue = s
        .list_due_deadlines(&tenant("acme"), &shop_a)
        .await
        .unwrap();
    assert_eq!(
        queue.iter().map(|d| &d.deadline).collect::<Vec<_>>(),
        acme_case.deadlines.iter().collect::<Vec<_>>()
    );
    assert!(s
        .list_due_deadlines(&tenant("beta"), &shop_a)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.next_timer_at().await.unwrap(), Some(remind0(base())));
    let now = remind0(beta_case.created_at) + Duration::minutes(1);
    assert_eq!(
        timers(&s.claim_due_timers(&claim("w1", now, 10)).await.unwrap()),
        vec![
            reminder("acme/c-1/0", remind0(base())),
            reminder("beta/c-1/0", remind0(beta_case.created_at)),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Backend-specific behaviour

/// The admin URL the PostgreSQL tests use, with `params` (`sslmode=…`) appended.
fn postgres_url_with(params: &str) -> String {
    let url = scratch::admin_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// Managed PostgreSQL services refuse connections without TLS: `sslmode=require` in the
/// database URL must give an encrypted session. The test server (Debian's default
/// configuration) has `ssl = on` with its self-signed certificate.
#[tokio::test]
async fn postgres_connects_over_tls_when_the_url_requires_it() {
    let url = postgres_url_with("sslmode=require");
    let mut conn = PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "no TLS session with the test PostgreSQL ({e}); its server needs `ssl = on` \
             (Debian's default, with the snakeoil certificate)"
        )
    });
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(encrypted, "sslmode=require gave a plain-text session");
    let _ = conn.close().await;
    // The store itself, through the same URL the server is given.
    let store = aftersales_store::connect(&url, 2).await.unwrap();
    assert_eq!(store.backend(), "postgres");
}

/// `sslmode=verify-full` checks the server's certificate against trusted roots: a
/// self-signed one is refused, with an error, not a hang or a silent plain-text fallback.
#[tokio::test]
async fn postgres_verify_full_refuses_an_untrusted_certificate() {
    let url = postgres_url_with("sslmode=verify-full");
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        aftersales_store::connect(&url, 2),
    )
    .await
    .expect("an answer within 10 s");
    let Err(err) = refused else {
        panic!("a self-signed certificate passed verify-full")
    };
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("tls"),
        "the error should say it is about TLS: {err}"
    );
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = std::env::temp_dir().join(format!(
        "aftersales-store-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let path = dir.join("a").join("b").join("store.db");
    let store = aftersales_store::connect(&format!("sqlite:{}", path.display()), 4)
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.write(insert(simple("acme", "case-1"))).await.unwrap();
    assert!(path.exists(), "the file and its directories are created");

    let mut conn =
        sqlx::SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let _ = conn.close().await;
    drop(store);

    // Reopening an existing database finds its data and re-runs no migration.
    let again = SqliteStore::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    assert!(again
        .case(&tenant("acme"), &CaseId::parse("case-1").unwrap())
        .await
        .unwrap()
        .is_some());
    again.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// WAL checkpoints run off the writer (crates/store/src/sqlite_checkpoint.rs): a write reaches
/// the database file itself soon after it commits, although the writer's own automatic
/// checkpoint waits for 64 MiB of WAL. The database file alone — copied without its WAL —
/// holds only what a checkpoint has copied into it.
#[tokio::test]
async fn sqlite_wal_is_checkpointed_off_the_writer() {
    let dir = std::env::temp_dir().join(format!(
        "aftersales-store-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let path = dir.join("store.db");
    let store = SqliteStore::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    store.write(insert(simple("acme", "case-1"))).await.unwrap();

    let copy = dir.join("copy.db");
    let mut checkpointed = false;
    for _ in 0..100 {
        // A copy taken while a checkpoint writes may be torn: that is "not yet", not a failure.
        std::fs::copy(&path, &copy).unwrap();
        let mut found = None;
        let options = SqliteConnectOptions::new().filename(&copy);
        if let Ok(mut conn) = sqlx::SqliteConnection::connect_with(&options).await {
            found = sqlx::query_scalar::<_, i64>(
                "SELECT 1 FROM cases WHERE tenant_id = 'acme' AND id = 'case-1'",
            )
            .fetch_optional(&mut conn)
            .await
            .unwrap_or(None);
            let _ = conn.close().await;
        }
        let _ = std::fs::remove_file(&copy);
        if found.is_some() {
            checkpointed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        checkpointed,
        "the committed case never reached the database file within 5 s"
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// On a SQLite file, case batches are written through rusqlite on their own thread while the
/// store's other writes (keys, timer claims) go through sqlx (crates/store/src/sqlite_write.rs):
/// the two take turns for the one write lock, so neither fails as busy nor waits out a busy
/// timeout, and writes stop as unavailable once the store is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_case_batches_and_other_writes_take_turns() {
    let dir = std::env::temp_dir().join(format!(
        "aftersales-store-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let path = dir.join("store.db");
    let store = Arc::new(
        SqliteStore::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("case-{i}");
            store.write(insert(simple("acme", &id))).await.map(|_| ())
        }));
    }
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .insert_api_key(&key_record(&format!("k{i}"), "acme"))
                .await?;
            store
                .claim_due_timers(&claim("w1", base() + Duration::days(400), 10))
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Far under the 5 s busy timeout either side would wait out if they collided.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let stats = store.write_stats();
    assert_eq!(stats.writes, 200, "{stats:?}");
    assert!(stats.batches < 200, "no write shared a batch: {stats:?}");
    let page = store
        .list_cases(
            &tenant("acme"),
            &CaseQuery {
                limit: 500,
                ..CaseQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 200);

    store.close().await;
    let err = store
        .write(insert(simple("acme", "after-close")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = aftersales_store::connect("sqlite::memory:", 4)
        .await
        .unwrap();
    store.write(insert(simple("acme", "case-1"))).await.unwrap();
    assert!(store
        .case(&tenant("acme"), &CaseId::parse("case-1").unwrap())
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        seqs(
            &store
                .tenant_events(&tenant("acme"), &[], 0, 10)
                .await
                .unwrap()
        ),
        vec![1]
    );
}

/// The PostgreSQL pool pings a connection before handing it out only if it sat idle over a
/// second (crates/store/src/postgres.rs): a connection the server dropped while idle — a
/// restart, a failover, an idle-session timeout — is replaced, not handed to a call that then
/// fails.
#[tokio::test]
async fn postgres_connections_that_died_while_idle_are_not_handed_out() {
    on_postgres(Start::Empty, |ctx| async move {
        let s = &*ctx.store;
        s.write(insert(simple("acme", "c1"))).await.unwrap();
        let id = CaseId::parse("c1").unwrap();
        assert!(s.case(&tenant("acme"), &id).await.unwrap().is_some());
        let raw = ctx.postgres_raw();
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(raw)
        .await
        .unwrap();
        assert!(!ended.is_empty(), "the store had no session to end");
        // Real time: the driver measures idleness on its own clock.
        tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
        for _ in 0..3 {
            assert!(s.case(&tenant("acme"), &id).await.unwrap().is_some());
        }
    })
    .await;
}

/// Reads borrow PostgreSQL connections outside sqlx's pool (which pings every connection it
/// gets back: a second round trip per read). A read dropped mid-call — a cancelled RPC —
/// must not hand its half-read connection to the next read, whose answer would then be the
/// cancelled read's row.
#[tokio::test]
async fn postgres_reads_cancelled_mid_call_leave_no_answer_for_the_next() {
    on_postgres(Start::Empty, |ctx| async move {
        let s = &*ctx.store;
        let acme = tenant("acme");
        s.write(insert(simple("acme", "c1"))).await.unwrap();
        s.write(insert(simple("acme", "c2"))).await.unwrap();
        let (c1, c2) = (CaseId::parse("c1").unwrap(), CaseId::parse("c2").unwrap());
        for _ in 0..20 {
            let mut cancelled = s.case(&acme, &c1);
            // One poll: the read takes a connection, sends its query and waits for the answer.
            std::future::poll_fn(|cx| {
                let _ = cancelled.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
            drop(cancelled);
            let next = s.case(&acme, &c2).await.unwrap().expect("c2 is stored");
            assert_eq!(next.id, c2);
        }
    })
    .await;
}

/// However many reads run at once, the store's reads and its pool together open at most the
/// connections it was given, and reuse them; after `close`, reads are refused as unavailable
/// (retryable), like writes.
#[tokio::test]
async fn postgres_reads_use_a_bounded_reused_set_of_connections() {
    on_postgres(Start::Empty, |ctx| async move {
        let Location::Postgres(options) = &ctx.at else {
            unreachable!("a PostgreSQL context")
        };
        let raw = ctx.postgres_raw();
        ctx.store.write(insert(simple("acme", "c1"))).await.unwrap();
        let sessions = || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_one(raw)
            .await
            .unwrap()
        };
        let before = sessions().await;
        let store = Arc::new(
            PostgresStore::connect_with((**options).clone(), 4)
                .await
                .unwrap(),
        );
        let id = CaseId::parse("c1").unwrap();
        for _round in 0..3 {
            let reads: Vec<_> = (0..60)
                .map(|_| {
                    let (store, id) = (store.clone(), id.clone());
                    tokio::spawn(async move { store.case(&tenant("acme"), &id).await })
                })
                .collect();
            for read in reads {
                assert!(read.await.unwrap().unwrap().is_some());
            }
        }
        let opened = sessions().await - before;
        // A store of 4 connections: 2 for reads (all of them busy here) and 2 for its pool.
        assert!(opened <= 4, "{opened} sessions for a store of 4");
        assert!(
            opened >= 2,
            "{opened} sessions: reads did not run side by side"
        );
        store.close().await;
        let err = store.case(&tenant("acme"), &id).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    })
    .await;
}

#[test]
fn postgres_connections_are_split_between_reads_and_the_pool() {
    use aftersales_store::postgres::split_connections;
    assert_eq!(split_connections(16), (8, 8));
    assert_eq!(split_connections(3), (1, 2));
    // Never none for either: a store of one connection opens two.
    assert_eq!(split_connections(1), (1, 1));
    assert_eq!(split_connections(0), (1, 1));
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/postgres", 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn unknown_url_schemes_are_refused() {
    let err = aftersales_store::connect("mysql://localhost/db", 4)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, StoreError::Database(msg) if msg.contains("sqlite:")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Order lines and the refresh queue (TB-03, TB-29, TMC)

fn on_line(
    tenant_id: &str,
    id: &str,
    platform: &str,
    shop: &str,
    order: &str,
    sub: Option<&str>,
) -> Change {
    let mut d = draft(platform, shop, CaseKind::RefundOnly, None);
    d.order_id = Some(OrderId::parse(order).unwrap());
    d.sub_order_id = sub.map(|s| OrderId::parse(s).unwrap());
    open(tenant_id, id, d, base())
}

fn order(platform: &str, shop: &str, order: &str) -> OrderRef {
    OrderRef {
        platform: PlatformCode::parse(platform).unwrap(),
        shop: ShopId::parse(shop).unwrap(),
        order_id: OrderId::parse(order).unwrap(),
    }
}

async fn cases_on_order_finds_every_line_of_that_order_only(ctx: Ctx) {
    let s = &*ctx.store;
    for change in [
        on_line("acme", "c-1", "demo", "shop-a", "o-1", Some("s-1")),
        on_line("acme", "c-2", "demo", "shop-a", "o-1", Some("s-2")),
        on_line("acme", "c-3", "demo", "shop-a", "o-1", None),
        on_line("acme", "c-4", "demo", "shop-a", "o-2", Some("s-1")),
        on_line("acme", "c-5", "demo", "shop-b", "o-1", Some("s-1")),
        on_line("acme", "c-6", "other", "shop-a", "o-1", Some("s-1")),
        on_line("beta", "c-7", "demo", "shop-a", "o-1", Some("s-1")),
    ] {
        s.write(insert(change)).await.unwrap();
    }
    let ids = |cases: Vec<Case>| {
        cases
            .into_iter()
            .map(|c| c.id.to_string())
            .collect::<Vec<_>>()
    };
    let got = s
        .cases_on_order(&tenant("acme"), &order("demo", "shop-a", "o-1"))
        .await
        .unwrap();
    assert_eq!(ids(got), vec!["c-1", "c-2", "c-3"]);
    let got = s
        .cases_on_order(&tenant("acme"), &order("demo", "shop-a", "o-9"))
        .await
        .unwrap();
    assert!(got.is_empty());
}

async fn needs_refresh_lists_only_marked_cases(ctx: Ctx) {
    let s = &*ctx.store;
    for id in ["c-1", "c-2", "c-3"] {
        s.write(insert(simple("acme", id))).await.unwrap();
    }
    let marked = s
        .case(&tenant("acme"), &CaseId::parse("c-2").unwrap())
        .await
        .unwrap()
        .unwrap();
    let marked = rewrite(s, &marked, |c| {
        c.needs_refresh = Some(RefreshNeeded {
            topic: "taobao_refund_RefundSellerAgreeAgreement".into(),
            noticed_at: base(),
        })
    })
    .await;
    let query = CaseQuery {
        needs_refresh: true,
        limit: 10,
        ..Default::default()
    };
    let got = s.list_cases(&tenant("acme"), &query).await.unwrap();
    assert_eq!(got, vec![marked.clone()]);
    assert!(s
        .list_cases(&tenant("beta"), &query)
        .await
        .unwrap()
        .is_empty());
    // A fresh fetch clears the mark and takes the case off the list.
    rewrite(s, &marked, |c| c.needs_refresh = None).await;
    assert!(s
        .list_cases(&tenant("acme"), &query)
        .await
        .unwrap()
        .is_empty());
}

/// An INSERT of `case` naming only the columns of the first schema, as an older release wrote
/// it (columns added later take their defaults or NULL, as on a real upgrade).
fn first_schema_case_row(case: &Case) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    format!(
        "INSERT INTO cases (tenant_id, id, shop_id, platform, platform_case_id, kind, state, \
         next_deadline_at, platform_version, version, created_at, updated_at, body) \
         VALUES ({}, {}, {}, {}, NULL, {}, {}, {}, NULL, {}, {}, {}, {});\n",
        quote(case.tenant.as_str()),
        quote(case.id.as_str()),
        quote(case.shop.as_str()),
        quote(case.platform.as_str()),
        quote(case.kind.as_str()),
        quote(case.state.as_str()),
        case.next_deadline_at()
            .map_or("NULL".to_string(), |t| t.timestamp_millis().to_string()),
        case.version,
        case.created_at.timestamp_millis(),
        case.updated_at.timestamp_millis(),
        quote(&serde_json::to_string(case).unwrap()),
    )
}

fn seed_first_schema_rows(cases: &[Case]) -> String {
    cases.iter().map(first_schema_case_row).collect()
}

/// Cases stored before the order-line columns existed: one on an order line with a sub-order,
/// one marked for refresh.
fn before_order_lines() -> Start {
    Start::Upgrade {
        version: "20261123000001",
        seed: seed_first_schema_rows(&cases_before_order_lines()),
    }
}

fn cases_before_order_lines() -> [Case; 2] {
    let mut stale = on_line("acme", "c-2", "demo", "shop-a", "o-9", None).case;
    stale.deadlines.clear();
    stale.needs_refresh = Some(RefreshNeeded {
        topic: "taobao_refund_RefundClosed".into(),
        noticed_at: base(),
    });
    let mut plain = on_line("acme", "c-1", "demo", "shop-a", "o-1", Some("s-1")).case;
    plain.deadlines.clear();
    [plain, stale]
}

async fn order_line_migration_backfills_existing_cases(ctx: Ctx) {
    let s = &*ctx.store;
    let [plain, stale] = cases_before_order_lines();
    let got = s
        .cases_on_order(&tenant("acme"), &order("demo", "shop-a", "o-1"))
        .await
        .unwrap();
    assert_eq!(got, vec![plain]);
    let query = CaseQuery {
        needs_refresh: true,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        s.list_cases(&tenant("acme"), &query).await.unwrap(),
        vec![stale]
    );
}

// ---------------------------------------------------------------------------------------------
// Metrics gauges

/// The fixture policy's deadlines for another platform.
fn open_on_other(tenant_id: &str, id: &str, now: DateTime<Utc>) -> Change {
    let policy = Policy::parse_toml(&POLICY.replace("\"demo", "\"other")).unwrap();
    Case::open(
        CaseId::parse(id).unwrap(),
        tenant(tenant_id),
        draft("other", "shop-9", CaseKind::RefundOnly, None),
        &policy,
        Actor::merchant("alice"),
        now,
        &[],
    )
    .unwrap()
}

/// Open cases are counted per platform and state across tenants, resolved ones not at all;
/// active deadlines per platform, split at `now` into due and overdue, finished ones not at all.
async fn gauge_counts_count_open_cases_and_active_deadlines(ctx: Ctx) {
    use aftersales_store::{ActiveDeadlineCount, GaugeCounts, OpenCaseCount};
    let s = &*ctx.store;
    assert_eq!(
        s.gauge_counts(base()).await.unwrap(),
        GaugeCounts::default()
    );

    // t1/a: opened at base; deadline 0 due base+5d, deadline 1 due base+7d.
    s.write(insert(opened_at("t1", "a", base()))).await.unwrap();
    // t1/b: opened a day later; both deadlines due after `now` below.
    s.write(insert(opened_at("t1", "b", base() + Duration::days(1))))
        .await
        .unwrap();
    // t2/c: closed; its deadlines cancelled. Neither it nor they count.
    let c = open(
        "t2",
        "c",
        draft("demo", "shop-1", CaseKind::RefundOnly, None),
        base(),
    );
    let c_case = c.case.clone();
    s.write(insert(c)).await.unwrap();
    let mut closed = changed(&c_case, CaseState::Closed);
    for d in &mut closed.deadlines {
        d.state = DeadlineState::Cancelled;
    }
    s.write(update(closed, c_case.version, vec![]))
        .await
        .unwrap();
    // t2/d: another platform, waiting for the buyer, deadlines still running.
    let d = open_on_other("t2", "d", base());
    let d_case = d.case.clone();
    s.write(insert(d)).await.unwrap();
    s.write(update(
        changed(&d_case, CaseState::AwaitingBuyer),
        d_case.version,
        vec![],
    ))
    .await
    .unwrap();

    let now = base() + Duration::days(5) + Duration::hours(1);
    let counts = s.gauge_counts(now).await.unwrap();
    let open = |platform: &str, state, count| OpenCaseCount {
        platform: platform.to_string(),
        state,
        count,
    };
    let active = |platform: &str, due, overdue| ActiveDeadlineCount {
        platform: platform.to_string(),
        due,
        overdue,
    };
    assert_eq!(
        counts,
        GaugeCounts {
            open_cases: vec![
                open("demo", CaseState::AwaitingMerchant, 2),
                open("other", CaseState::AwaitingBuyer, 1),
            ],
            // demo: a's deadline 0 is overdue; a's deadline 1 and both of b's are due.
            // other: d's deadline 0 is overdue, deadline 1 due.
            deadlines: vec![active("demo", 3, 1), active("other", 1, 1)],
        }
    );
    // Exactly at a due time counts as overdue (the engine fires at due_at).
    let at_due = s.gauge_counts(due0(base())).await.unwrap();
    assert_eq!(
        at_due.deadlines,
        vec![active("demo", 3, 1), active("other", 1, 1)]
    );
    let before = s
        .gauge_counts(due0(base()) - Duration::milliseconds(1))
        .await
        .unwrap();
    assert_eq!(
        before.deadlines,
        vec![active("demo", 4, 0), active("other", 2, 0)]
    );
}

/// Each gauge query can be answered from its partial index alone (migrations 20261126000001),
/// and the open-state list those indexes and queries share is exactly the domain's open states.
async fn gauge_queries_read_only_their_partial_indexes(ctx: Ctx) {
    use aftersales_store::gauge_sql::{GAUGE_DEADLINES, GAUGE_OPEN_CASES, OPEN_STATES_SQL};
    let mut listed: Vec<&str> = OPEN_STATES_SQL.split('\'').skip(1).step_by(2).collect();
    listed.sort();
    let mut open: Vec<&str> = CaseState::ALL
        .into_iter()
        .filter(|s| !s.is_resolved())
        .map(CaseState::as_str)
        .collect();
    open.sort();
    assert_eq!(listed, open);

    let cases = ctx.raw.plan(GAUGE_OPEN_CASES, 0).await;
    assert!(
        cases.contains("cases_open_by_platform_state"),
        "open-case gauge plan:\n{cases}"
    );
    let deadlines = ctx.raw.plan(GAUGE_DEADLINES, 0).await;
    assert!(
        deadlines.contains("deadlines_active_by_platform"),
        "deadline gauge plan:\n{deadlines}"
    );
}

// Group commit

/// Poll the store's write counters until `done` holds (at most 5 s).
async fn until_stats(store: &dyn Store, what: &str, done: impl Fn(WriteStats) -> bool) {
    let start = std::time::Instant::now();
    while !done(store.write_stats()) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "timed out waiting for {what}: {:?}",
            store.write_stats()
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Each tenant's feed is 1..n, once each, in order.
async fn assert_gap_free(store: &dyn Store, tenant_id: &str) -> usize {
    let feed = store
        .tenant_events(&tenant(tenant_id), &[], 0, 10_000)
        .await
        .unwrap();
    assert_eq!(
        seqs(&feed),
        (1..=feed.len() as i64).collect::<Vec<_>>(),
        "{tenant_id}'s feed has a gap or a duplicate"
    );
    feed.len()
}

async fn concurrent_writes_share_transactions_and_are_read_back_by_a_fresh_store(ctx: Ctx) {
    const TASKS: usize = 200;
    const TENANTS: [&str; 4] = ["acme", "beta", "gamma", "delta"];
    let before = ctx.store.write_stats();

    // Released together, so they reach the store together; each checks its own write is
    // readable as soon as it is acknowledged.
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = ctx.store.clone();
        let start = start.clone();
        handles.push(tokio::spawn(async move {
            let tenant_id = TENANTS[t % TENANTS.len()];
            let change = simple(tenant_id, &format!("case-{t}"));
            let mut write = insert(change.clone());
            write.events.push(note(&change.case, t as i64));
            start.wait().await;
            let stored = store.write(write).await.unwrap();
            let read = store
                .case(&change.case.tenant, &change.case.id)
                .await
                .unwrap();
            assert_eq!(read.as_ref(), Some(&change.case), "read after ack");
            let events = store
                .case_events(&change.case.tenant, &change.case.id, 0, 10)
                .await
                .unwrap();
            assert_eq!(events, stored, "the events as acknowledged");
            // Then an update of the same case, racing the other tasks' inserts and updates.
            let next = changed(&change.case, CaseState::AwaitingBuyer);
            let updated = store
                .write(update(next.clone(), 1, vec![note(&next, 1000 + t as i64)]))
                .await
                .unwrap();
            (tenant_id, next, [seqs(&stored), seqs(&updated)].concat())
        }));
    }
    let mut written = Vec::new();
    for h in handles {
        let (tenant_id, case, seqs) = h.await.unwrap();
        assert_eq!(seqs.len(), 3);
        assert_eq!(seqs[1], seqs[0] + 1, "one write's events are contiguous");
        written.push((tenant_id, case, seqs));
    }
    for tenant_id in TENANTS {
        let mut acked: Vec<i64> = written
            .iter()
            .filter(|(t, _, _)| *t == tenant_id)
            .flat_map(|(_, _, s)| s.clone())
            .collect();
        acked.sort_unstable();
        let n = assert_gap_free(&*ctx.store, tenant_id).await;
        assert_eq!(acked, (1..=n as i64).collect::<Vec<_>>(), "{tenant_id}");
    }

    // Batches formed: not one transaction per write.
    let stats = ctx.store.write_stats();
    let writes = stats.writes - before.writes;
    let batches = stats.batches - before.batches;
    assert_eq!(writes, 2 * TASKS as u64, "{stats:?}");
    assert!(
        batches < writes && stats.largest_batch > 1,
        "every write had its own transaction: {stats:?}"
    );
    eprintln!(
        "{} writes in {batches} transactions, largest {}",
        writes, stats.largest_batch
    );

    // Acknowledged means committed: another store on the database reads all of it.
    let fresh = ctx.open(1).await;
    for (_, case, seqs) in &written {
        assert_eq!(
            fresh.case(&case.tenant, &case.id).await.unwrap().as_ref(),
            Some(case)
        );
        let events = fresh
            .case_events(&case.tenant, &case.id, 0, 10)
            .await
            .unwrap();
        assert_eq!(&self::seqs(&events), seqs);
    }
    for tenant_id in TENANTS {
        assert_gap_free(&*fresh, tenant_id).await;
    }
}

fn with_request(mut write: CaseWrite, request_id: &str) -> CaseWrite {
    write.idempotency = Some(IdempotencyRecord {
        request_id: request_id.to_string(),
        method: "Test".to_string(),
        fingerprint: request_id.to_string(),
        response: request_id.as_bytes().to_vec(),
        created_at: base(),
    });
    write
}

type WriteTask = tokio::task::JoinHandle<Result<Vec<aftersales_store::StoredEvent>, StoreError>>;

fn spawn_write(store: &Arc<dyn Store>, write: CaseWrite) -> WriteTask {
    let store = store.clone();
    tokio::spawn(async move { store.write(write).await })
}

/// Starts an update of `blocker` (stored at version 1 in tenant acme) and waits until its
/// transaction is stuck behind a lock held on the case: with one writer, every write queued
/// from now on forms the next batch, which runs once the hold is released.
async fn hold_the_writer(
    ctx: &Ctx,
    store: &Arc<dyn Store>,
    blocker: &Change,
    before: WriteStats,
) -> (Hold, WriteTask) {
    let hold = ctx.raw.hold("acme", blocker.case.id.as_str()).await;
    let held = spawn_write(
        store,
        update(
            changed(&blocker.case, CaseState::AwaitingBuyer),
            1,
            vec![note(&blocker.case, 1)],
        ),
    );
    until_stats(&**store, "the held write's transaction", |st| {
        st.transactions == before.transactions + 1
    })
    .await;
    (hold, held)
}

/// Writes queued behind one that waits for a lock form one batch; those that fail (a version
/// conflict, a duplicate request id, a duplicate platform case, events for a missing case, the
/// loser of two updates of one case) fail alone and leave nothing behind, the others commit
/// together.
async fn a_failing_write_fails_alone_in_its_batch(ctx: Ctx) {
    // One writer, so everything queued behind the held write is one batch.
    let store = ctx.open(1).await;
    let s = &*store;
    let blocker = simple("acme", "blocker");
    let contested = simple("acme", "contested");
    let other = simple("beta", "other");
    let on_platform = open(
        "acme",
        "on-platform",
        draft("demo", "shop-1", CaseKind::RefundOnly, Some("p-1")),
        base(),
    );
    for change in [&blocker, &contested, &other, &on_platform] {
        s.write(insert(change.clone())).await.unwrap();
    }
    s.write(with_request(insert(simple("acme", "used")), "req-used"))
        .await
        .unwrap();
    let before = s.write_stats();

    let (hold, held) = hold_the_writer(&ctx, &store, &blocker, before).await;
    let spawn = |write: CaseWrite| spawn_write(&store, write);

    let race = |n| {
        update(
            changed(&contested.case, CaseState::AwaitingBuyer),
            1,
            vec![note(&contested.case, n)],
        )
    };
    let ghost = simple("acme", "ghost").case;
    let queued = [
        (
            "new-1",
            with_request(insert(simple("acme", "new-1")), "req-new"),
        ),
        ("new-2", insert(simple("beta", "new-2"))),
        (
            "conflict",
            with_request(
                update(
                    changed(&contested.case, CaseState::AwaitingBuyer),
                    7,
                    vec![],
                ),
                "req-conflict",
            ),
        ),
        ("race-1", race(1)),
        ("race-2", race(2)),
        (
            "dup-request",
            with_request(insert(simple("acme", "dup-request")), "req-used"),
        ),
        (
            "dup-platform",
            insert(open(
                "acme",
                "dup-platform",
                draft("demo", "shop-1", CaseKind::RefundOnly, Some("p-1")),
                base(),
            )),
        ),
        (
            "missing",
            CaseWrite {
                events: vec![note(&ghost, 1)],
                case: ghost,
                mode: WriteMode::EventsOnly,
                idempotency: None,
                caller: None,
            },
        ),
        (
            "other",
            update(
                changed(&other.case, CaseState::AwaitingBuyer),
                1,
                vec![note(&other.case, 1)],
            ),
        ),
    ];
    let n = queued.len() as u64;
    let handles: Vec<_> = queued
        .into_iter()
        .map(|(name, write)| (name, spawn(write)))
        .collect();
    until_stats(s, "the queued writes", |st| st.pending == n + 1).await;
    hold.release().await;

    held.await.unwrap().unwrap();
    let mut results = std::collections::BTreeMap::new();
    for (name, h) in handles {
        results.insert(name, h.await.unwrap());
    }
    for name in ["new-1", "new-2", "other"] {
        assert!(results[name].is_ok(), "{name}: {:?}", results[name]);
    }
    let race_wins = ["race-1", "race-2"]
        .iter()
        .filter(|name| results[**name].is_ok())
        .count();
    assert_eq!(race_wins, 1, "{results:?}");
    for name in ["conflict", "race-1", "race-2"] {
        if let Err(e) = &results[name] {
            assert!(
                matches!(e, StoreError::VersionConflict { .. }),
                "{name}: {e:?}"
            );
        }
    }
    assert!(
        matches!(&results["dup-request"], Err(StoreError::DuplicateRequest { request_id }) if request_id == "req-used"),
        "{results:?}"
    );
    assert!(
        matches!(
            &results["dup-platform"],
            Err(StoreError::DuplicatePlatformCase { .. })
        ),
        "{results:?}"
    );
    assert!(
        matches!(&results["missing"], Err(StoreError::Database(msg)) if msg.contains("ghost")),
        "{results:?}"
    );

    // The successful queued writes committed in one transaction, after reruns without the
    // failed ones.
    let stats = s.write_stats();
    assert_eq!(stats.batches - before.batches, 2, "{stats:?}");
    assert_eq!(stats.writes - before.writes, 5, "{stats:?}");
    assert!(stats.largest_batch >= 4, "{stats:?}");
    assert!(
        stats.transactions - before.transactions > 2,
        "the failures never rolled the batch back: {stats:?}"
    );

    // Nothing of the failed writes is left.
    let acme = tenant("acme");
    for id in ["dup-request", "dup-platform", "ghost"] {
        assert_eq!(
            s.case(&acme, &CaseId::parse(id).unwrap()).await.unwrap(),
            None
        );
        assert!(s
            .case_events(&acme, &CaseId::parse(id).unwrap(), 0, 10)
            .await
            .unwrap()
            .is_empty());
    }
    assert_eq!(
        s.idempotent_response(&acme, "req-conflict").await.unwrap(),
        None
    );
    assert_eq!(
        s.idempotent_response(&acme, "req-used")
            .await
            .unwrap()
            .unwrap()
            .response,
        b"req-used"
    );
    assert!(s
        .idempotent_response(&acme, "req-new")
        .await
        .unwrap()
        .is_some());
    let contested_now = s.case(&acme, &contested.case.id).await.unwrap().unwrap();
    assert_eq!(contested_now.version, 2);
    let contested_events = s
        .case_events(&acme, &contested.case.id, 0, 10)
        .await
        .unwrap();
    assert_eq!(contested_events.len(), 2, "opened + the winner's note");
    assert_eq!(
        s.case(&tenant("beta"), &other.case.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    // Deadline rows follow the committed version.
    assert_eq!(
        ctx.raw.deadlines("acme", "contested").await.len(),
        contested_now.deadlines.len()
    );
    assert_gap_free(s, "acme").await;
    assert_gap_free(s, "beta").await;
}

/// Updates of distinct cases queued together are written by one statement (see
/// `batch::update_together`): those at their expected version commit together, in one
/// transaction, and one that is stale fails alone with a version conflict, leaving neither its
/// idempotency record nor its events behind.
async fn distinct_updates_in_one_batch_commit_together_and_a_stale_one_fails_alone(ctx: Ctx) {
    // One writer, so everything queued behind the held write is one batch.
    let store = ctx.open(1).await;
    let s = &*store;
    let blocker = simple("acme", "blocker");
    let fresh = [
        simple("acme", "fresh-1"),
        simple("acme", "fresh-2"),
        simple("beta", "fresh-3"),
    ];
    let stale = simple("acme", "stale");
    for change in fresh.iter().chain([&blocker, &stale]) {
        s.write(insert(change.clone())).await.unwrap();
    }
    let before = s.write_stats();

    let (hold, held) = hold_the_writer(&ctx, &store, &blocker, before).await;
    let spawn = |write: CaseWrite| spawn_write(&store, write);

    let mut handles = Vec::new();
    for (n, change) in fresh.iter().enumerate() {
        let write = update(
            changed(&change.case, CaseState::AwaitingBuyer),
            1,
            vec![note(&change.case, n as i64)],
        );
        handles.push(spawn(with_request(write, &format!("req-fresh-{n}"))));
    }
    let stale_write = spawn(with_request(
        update(
            changed(&stale.case, CaseState::AwaitingBuyer),
            7,
            vec![note(&stale.case, 9)],
        ),
        "req-stale",
    ));
    until_stats(s, "the queued writes", |st| st.pending == 5).await;
    hold.release().await;

    held.await.unwrap().unwrap();
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap().len(), 1);
    }
    let err = stale_write.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, StoreError::VersionConflict { case_id, expected: 7 } if case_id == "stale"),
        "{err:?}"
    );

    // The held write's batch and the queued one, each in one transaction: the stale update
    // did not roll the others back.
    let stats = s.write_stats();
    assert_eq!(stats.batches - before.batches, 2, "{stats:?}");
    assert_eq!(stats.writes - before.writes, 4, "{stats:?}");
    assert_eq!(stats.transactions - before.transactions, 2, "{stats:?}");

    for (n, change) in fresh.iter().enumerate() {
        let stored = s
            .case(&change.case.tenant, &change.case.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.version, stored.state),
            (2, CaseState::AwaitingBuyer)
        );
        assert!(s
            .idempotent_response(&change.case.tenant, &format!("req-fresh-{n}"))
            .await
            .unwrap()
            .is_some());
    }
    let acme = tenant("acme");
    let stale_now = s.case(&acme, &stale.case.id).await.unwrap().unwrap();
    assert_eq!(stale_now, stale.case);
    assert_eq!(
        s.case_events(&acme, &stale.case.id, 0, 10)
            .await
            .unwrap()
            .len(),
        1,
        "only the opening event"
    );
    assert_eq!(
        s.idempotent_response(&acme, "req-stale").await.unwrap(),
        None
    );
    assert_gap_free(s, "acme").await;
    assert_gap_free(s, "beta").await;
}

/// Sixteen copies of one request at once (a client's racing retries): one commits, and every
/// other copy is told DuplicateRequest only once the stored answer can be read.
async fn copies_of_one_request_commit_once_and_the_rest_find_it(ctx: Ctx) {
    const COPIES: usize = 16;
    let original = simple("acme", "copied");
    ctx.store.write(insert(original.clone())).await.unwrap();
    for (what, write) in [
        (
            "update",
            with_request(
                update(
                    changed(&original.case, CaseState::AwaitingBuyer),
                    1,
                    vec![note(&original.case, 1)],
                ),
                "req-update",
            ),
        ),
        (
            "insert",
            with_request(insert(simple("acme", "new-copied")), "req-insert"),
        ),
    ] {
        let start = Arc::new(tokio::sync::Barrier::new(COPIES));
        let mut handles = Vec::new();
        for _ in 0..COPIES {
            let (store, start, write) = (ctx.store.clone(), start.clone(), write.clone());
            handles.push(tokio::spawn(async move {
                start.wait().await;
                let request_id = write.idempotency.clone().unwrap().request_id;
                let answer = store.write(write).await;
                let stored = store
                    .idempotent_response(&tenant("acme"), &request_id)
                    .await
                    .unwrap();
                (answer, stored.is_some())
            }));
        }
        let mut ok = 0;
        for h in handles {
            match h.await.unwrap() {
                (Ok(_), _) => ok += 1,
                (Err(StoreError::DuplicateRequest { .. }), found) => {
                    assert!(
                        found,
                        "{what}: told DuplicateRequest before the answer was stored"
                    )
                }
                (Err(e), _) => panic!("{what}: {e:?}"),
            }
        }
        assert_eq!(ok, 1, "{what}");
    }
    let events = ctx
        .store
        .case_events(&tenant("acme"), &original.case.id, 0, 100)
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "opened + one update");
    assert_gap_free(&*ctx.store, "acme").await;
}

/// The group-commit writers an operator sets (`--pg-writers`, `AFTERSALES_PG_WRITERS`) are
/// what a store opened from a URL runs on PostgreSQL, and the default follows the pool; SQLite
/// runs one whatever is asked (one writing transaction per file).
async fn writer_count_follows_the_setting(ctx: Ctx) {
    let (url, sqlite) = match &ctx.at {
        Location::Sqlite(url) => (url.clone(), true),
        Location::Postgres(o) => (
            format!(
                "postgres://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap()
            ),
            false,
        ),
    };
    let three = aftersales_store::connect_with_writers(&url, 8, Some(3))
        .await
        .unwrap();
    assert_eq!(three.write_stats().writers, if sqlite { 1 } else { 3 });
    three.write(insert(simple("acme", "case-1"))).await.unwrap();
    assert!(ctx
        .store
        .case(&tenant("acme"), &CaseId::parse("case-1").unwrap())
        .await
        .unwrap()
        .is_some());
    for (pool, expected) in [(1, 1), (16, 2), (64, 4)] {
        let default = aftersales_store::connect(&url, pool).await.unwrap();
        assert_eq!(
            default.write_stats().writers,
            if sqlite { 1 } else { expected },
            "pool of {pool}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// X-03 satisfaction checks

fn check(outcome: SatisfactionOutcome) -> SatisfactionCheck {
    SatisfactionCheck {
        outcome,
        note: BoundedText::parse("asked by phone").unwrap(),
        review_invited: true,
        recorded_at: base(),
        recorded_by: "alice".into(),
    }
}

/// The ids ListCases' `satisfaction` filter finds in `tenant_id`, in id order.
async fn with_satisfaction(
    s: &dyn Store,
    tenant_id: &str,
    status: SatisfactionStatus,
) -> Vec<String> {
    let query = CaseQuery {
        satisfaction: Some(status),
        limit: 10,
        ..Default::default()
    };
    s.list_cases(&tenant(tenant_id), &query)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.as_str().to_string())
        .collect()
}

/// X-03: the `satisfaction` column follows the case — nothing while open, unchecked once
/// resolved, then the latest check's outcome — whether the row is inserted, updated alone or
/// updated with others in one multi-row statement.
async fn satisfaction_column_follows_the_case_alone_and_in_a_batch(ctx: Ctx) {
    use SatisfactionOutcome::{Dissatisfied, Satisfied};
    use SatisfactionStatus::{Checked, Unchecked};
    // One writer, so the two updates queued behind the held write are one batch.
    let store = ctx.open(1).await;
    let s = &*store;
    let blocker = simple("acme", "blocker");
    let [open_case, to_refund, to_check] = ["c-1", "c-2", "c-3"].map(|id| simple("acme", id));
    // A platform record that arrives already closed.
    let mut born_closed = simple("acme", "c-4");
    born_closed.case.state = CaseState::Closed;
    for change in [&blocker, &open_case, &to_refund, &to_check, &born_closed] {
        s.write(insert(change.clone())).await.unwrap();
    }
    assert_eq!(with_satisfaction(s, "acme", Unchecked).await, ["c-4"]);

    let before = s.write_stats();
    let (hold, held) = hold_the_writer(&ctx, &store, &blocker, before).await;
    let refunded = changed(&to_refund.case, CaseState::Refunded);
    let mut unhappy = changed(&to_check.case, CaseState::Refunded);
    unhappy.satisfaction_checks.push(check(Dissatisfied));
    let writes = [
        spawn_write(&store, update(refunded, 1, vec![])),
        spawn_write(&store, update(unhappy.clone(), 1, vec![])),
    ];
    // The held write is still pending too.
    until_stats(s, "the queued writes", |st| st.pending == 3).await;
    hold.release().await;
    held.await.unwrap().unwrap();
    for w in writes {
        w.await.unwrap().unwrap();
    }
    assert_eq!(
        s.write_stats().transactions,
        before.transactions + 2,
        "the held write, then both updates in one transaction"
    );
    assert_eq!(
        with_satisfaction(s, "acme", Unchecked).await,
        ["c-2", "c-4"]
    );
    assert_eq!(
        with_satisfaction(s, "acme", Checked(Dissatisfied)).await,
        ["c-3"]
    );
    assert!(with_satisfaction(s, "acme", Checked(Satisfied))
        .await
        .is_empty());

    // The latest check decides.
    rewrite(s, &unhappy, |c| {
        c.satisfaction_checks.push(check(Satisfied))
    })
    .await;
    assert!(with_satisfaction(s, "acme", Checked(Dissatisfied))
        .await
        .is_empty());
    assert_eq!(
        with_satisfaction(s, "acme", Checked(Satisfied)).await,
        ["c-3"]
    );
    for status in SatisfactionStatus::ALL {
        let listed = with_satisfaction(s, "acme", status).await;
        assert!(
            !listed.iter().any(|id| id == "c-1" || id == "blocker"),
            "an open case has no satisfaction status: {status:?} {listed:?}"
        );
        assert!(with_satisfaction(s, "beta", status).await.is_empty());
    }
}

/// Cases stored before the satisfaction column existed: one refunded, one still open.
fn before_satisfaction() -> Start {
    Start::Upgrade {
        version: "20261206000001",
        seed: seed_first_schema_rows(&cases_before_satisfaction()),
    }
}

fn cases_before_satisfaction() -> [Case; 2] {
    let mut open_case = simple("acme", "c-open").case;
    open_case.deadlines.clear();
    let mut refunded = changed(&simple("acme", "c-refunded").case, CaseState::Refunded);
    refunded.deadlines.clear();
    [open_case, refunded]
}

async fn satisfaction_migration_marks_resolved_cases_unchecked(ctx: Ctx) {
    let s = &*ctx.store;
    let [_, refunded] = cases_before_satisfaction();
    assert_eq!(
        with_satisfaction(s, "acme", SatisfactionStatus::Unchecked).await,
        [refunded.id.as_str()]
    );
}

// ---------------------------------------------------------------------------------------------
// Stored views (GetCase's answer kept beside the row)

/// A stand-in for the API's rendering: what it encodes is visible in the bytes.
struct TestView;

impl aftersales_store::CaseViewRenderer for TestView {
    fn format(&self) -> i64 {
        7
    }
    fn render(&self, case: &Case) -> Vec<u8> {
        format!("{}@{}:{}", case.id, case.version, case.state.as_str()).into_bytes()
    }
}

static TEST_VIEW: TestView = TestView;

fn view_of(case: &Case) -> aftersales_store::StoredView {
    aftersales_store::StoredView {
        id: case.id.clone(),
        shop: case.shop.clone(),
        platform: case.platform.clone(),
        kind: case.kind,
        bytes: aftersales_store::CaseViewRenderer::render(&TEST_VIEW, case),
    }
}

async fn read_case(s: &dyn Store, tenant_id: &str, id: &str) -> Option<aftersales_store::CaseRead> {
    s.case_read(&tenant(tenant_id), &CaseId::parse(id).unwrap())
        .await
        .unwrap()
}

/// ListCases' page of acme's cases must read each as GetCase's read does.
async fn assert_listed_as_read_one_by_one(s: &dyn Store) {
    let query = CaseQuery {
        limit: 10,
        ..Default::default()
    };
    let listed = s.list_case_reads(&tenant("acme"), &query).await.unwrap();
    let mut one_by_one = Vec::new();
    for id in ["blocker", "c-1", "c-2", "c-3"] {
        one_by_one.push(read_case(s, "acme", id).await.unwrap());
    }
    assert_eq!(listed, one_by_one);
}

async fn case_views_follow_every_write_and_a_stale_one_falls_back_to_the_body(ctx: Ctx) {
    use aftersales_store::CaseRead;
    assert!(aftersales_store::render_case_views_with(&TEST_VIEW));
    // One writer, so the updates queued behind the held write are one batch.
    let store = ctx.open(1).await;
    let s = &*store;
    let blocker = simple("acme", "blocker");
    let [alone, batched_1, batched_2] = ["c-1", "c-2", "c-3"].map(|id| simple("acme", id));
    for change in [&blocker, &alone, &batched_1, &batched_2] {
        s.write(insert(change.clone())).await.unwrap();
    }
    assert_eq!(
        read_case(s, "acme", "c-1").await,
        Some(CaseRead::View(view_of(&alone.case)))
    );
    assert_eq!(read_case(s, "acme", "missing").await, None);
    assert_eq!(read_case(s, "beta", "c-1").await, None, "another tenant's");

    // An update alone, then two in one batch (the multi-row statements): each view is the
    // new version's.
    let refunded = changed(&alone.case, CaseState::Refunded);
    s.write(update(refunded.clone(), 1, vec![])).await.unwrap();
    assert_eq!(
        read_case(s, "acme", "c-1").await,
        Some(CaseRead::View(view_of(&refunded)))
    );
    let before = s.write_stats();
    let (hold, held) = hold_the_writer(&ctx, &store, &blocker, before).await;
    let closed = [&batched_1, &batched_2].map(|c| changed(&c.case, CaseState::Closed));
    let writes = closed
        .clone()
        .map(|c| spawn_write(&store, update(c, 1, vec![])));
    until_stats(s, "the queued writes", |st| st.pending == 3).await;
    hold.release().await;
    held.await.unwrap().unwrap();
    for w in writes {
        w.await.unwrap().unwrap();
    }
    assert_eq!(s.write_stats().transactions, before.transactions + 2);
    for case in &closed {
        assert_eq!(
            read_case(s, "acme", case.id.as_str()).await,
            Some(CaseRead::View(view_of(case)))
        );
    }
    // Read together (PostgreSQL groups them into one statement, where GetCase's reads get
    // the view without the body and the others the body without the view), each gets its own.
    let reads: Vec<_> = (0..48)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = ["c-1", "c-2", "c-3"][i % 3];
                if i % 2 == 0 {
                    read_case(&*store, "acme", id).await
                } else {
                    let id = CaseId::parse(id).unwrap();
                    let case = store.case(&tenant("acme"), &id).await.unwrap();
                    case.map(|c| CaseRead::Case(Box::new(c)))
                }
            })
        })
        .collect();
    for (i, read) in reads.into_iter().enumerate() {
        let expected = [&refunded, &closed[0], &closed[1]][i % 3];
        let read = read.await.unwrap();
        if i % 2 == 0 {
            assert_eq!(read, Some(CaseRead::View(view_of(expected))), "read {i}");
        } else {
            assert_eq!(
                read,
                Some(CaseRead::Case(Box::new(expected.clone()))),
                "read {i}"
            );
        }
    }
    assert_listed_as_read_one_by_one(s).await;

    // A binary that does not render views updated the row (version moved on, view did not);
    // another rendered it in a format this one does not; a third wrote no view at all.
    // Each is served from the body.
    ctx.raw
        .execute(
            "UPDATE cases SET api_view_version = api_view_version - 1 WHERE id = $1",
            "c-1",
        )
        .await;
    ctx.raw
        .execute("UPDATE cases SET api_view_format = 8 WHERE id = $1", "c-2")
        .await;
    ctx.raw
        .execute(
            "UPDATE cases SET api_view = NULL, api_view_format = NULL, api_view_version = NULL \
             WHERE id = $1",
            "c-3",
        )
        .await;
    for case in [&refunded, &closed[0], &closed[1]] {
        assert_eq!(
            read_case(s, "acme", case.id.as_str()).await,
            Some(CaseRead::Case(Box::new(case.clone())))
        );
    }
    assert_listed_as_read_one_by_one(s).await;
    // The next write renders it again.
    let reopened = rewrite(s, &refunded, |_| {}).await;
    assert_eq!(
        read_case(s, "acme", "c-1").await,
        Some(CaseRead::View(view_of(&reopened)))
    );
}

/// The pass (case_view.rs): after a release made stored views stale, it renders each again,
/// a page at a time, in key order across tenants; a store opened afresh resumes where the
/// last page ended; current views are left as they are; a body that does not decode is
/// skipped, not a stop; once finished, the pass is not run again for its format.
async fn the_view_pass_renders_each_stale_view_again_and_runs_once_per_format(ctx: Ctx) {
    use aftersales_store::{CaseRead, ViewRefreshPage};
    assert!(aftersales_store::render_case_views_with(&TEST_VIEW));
    let store = ctx.open(1).await;
    let s = &*store;
    let keys = [
        ("acme", "c-1"),
        ("acme", "c-2"),
        ("acme", "c-3"),
        ("acme", "c-4"),
        ("acme", "c-5"),
        ("beta", "d-1"),
        ("beta", "d-2"),
    ];
    let mut cases = Vec::new();
    for (tenant_id, id) in keys {
        let change = simple(tenant_id, id);
        s.write(insert(change.clone())).await.unwrap();
        cases.push(change.case);
    }
    let page = |examined, rendered, finished| ViewRefreshPage {
        examined,
        rendered,
        finished,
        taken: false,
    };
    // As a release leaves them: c-1 updated by a binary that keeps no views, c-2 and all of
    // beta's in another format, c-3 without a view; c-4 and c-5 current.
    let stale = [
        "UPDATE cases SET api_view_version = api_view_version - 1 WHERE id = $1",
        "UPDATE cases SET api_view_format = 8 WHERE id = $1",
        "UPDATE cases SET api_view = NULL, api_view_format = NULL, api_view_version = NULL \
         WHERE id = $1",
    ];
    for (sql, id) in stale.iter().zip(["c-1", "c-2", "c-3"]) {
        ctx.raw.execute(sql, id).await;
    }
    ctx.raw
        .execute(
            "UPDATE cases SET api_view_format = 8 WHERE tenant_id = $1",
            "beta",
        )
        .await;
    // And c-4's view, though current, is not what its body renders: only a stale view is
    // rendered again, so it stays (which is how this test sees that it was not rewritten).
    ctx.raw
        .execute(
            "UPDATE cases SET api_view = (SELECT o.api_view FROM cases o WHERE o.id = 'c-5') \
             WHERE id = $1",
            "c-4",
        )
        .await;
    for case in &cases[..3] {
        assert_eq!(
            read_case(s, case.tenant.as_str(), case.id.as_str()).await,
            Some(CaseRead::Case(Box::new(case.clone())))
        );
    }

    // Each page reads the primary key from where the last ended, in its order: no scan of
    // the cases before, no sort.
    let plan = ctx
        .raw
        .plan(
            &aftersales_store::view_pass_sql::SELECT_VIEWS_TO_REFRESH
                .replace("$1", "'acme'")
                .replace("$2", "'c-3'")
                .replace("$3", "8")
                .replace("$4", "3"),
            0,
        )
        .await;
    assert!(
        plan.contains("INDEX") || plan.contains("Index Scan"),
        "view pass plan:\n{plan}"
    );
    for unwanted in ["SCAN", "Seq Scan", "B-TREE", "Sort"] {
        assert!(!plan.contains(unwanted), "view pass plan:\n{plan}");
    }

    assert_eq!(s.refresh_case_views(3).await.unwrap(), page(3, 3, false));
    // A store opened afresh (a restart) goes on after acme/c-3.
    let restarted = ctx.open(1).await;
    assert_eq!(
        restarted.refresh_case_views(3).await.unwrap(),
        page(3, 1, false)
    );
    assert_eq!(
        restarted.refresh_case_views(3).await.unwrap(),
        page(1, 1, true)
    );
    for case in &cases {
        let expected = if case.id.as_str() == "c-4" {
            view_of(&cases[4]).bytes
        } else {
            view_of(case).bytes
        };
        match read_case(s, case.tenant.as_str(), case.id.as_str()).await {
            Some(CaseRead::View(view)) => assert_eq!(view.bytes, expected, "{}", case.id),
            other => panic!("{} is not served from its view: {other:?}", case.id),
        }
    }

    // Finished for this format: a view made stale now waits for its case's next write.
    ctx.raw
        .execute("UPDATE cases SET api_view_format = 8 WHERE id = $1", "c-5")
        .await;
    assert_eq!(s.refresh_case_views(3).await.unwrap(), page(0, 0, true));
    assert_eq!(
        read_case(s, "acme", "c-5").await,
        Some(CaseRead::Case(Box::new(cases[4].clone())))
    );
}

/// A body that does not decode (a corrupt row) is skipped by the pass, which goes on past
/// it, and each read of that case still says what is wrong.
async fn the_view_pass_goes_past_a_body_that_does_not_decode(ctx: Ctx) {
    use aftersales_store::{CaseRead, ViewRefreshPage};
    assert!(aftersales_store::render_case_views_with(&TEST_VIEW));
    let store = ctx.open(1).await;
    let s = &*store;
    let [broken, fine] = ["c-1", "c-2"].map(|id| simple("acme", id));
    for change in [&broken, &fine] {
        s.write(insert(change.clone())).await.unwrap();
    }
    ctx.raw
        .execute(
            "UPDATE cases SET body = '{\"not\": \"a case\"}', api_view_format = 8 \
             WHERE id = $1",
            "c-1",
        )
        .await;
    ctx.raw
        .execute("UPDATE cases SET api_view_format = 8 WHERE id = $1", "c-2")
        .await;
    assert_eq!(
        s.refresh_case_views(10).await.unwrap(),
        ViewRefreshPage {
            examined: 2,
            rendered: 1,
            finished: true,
            taken: false,
        }
    );
    assert_eq!(
        read_case(s, "acme", "c-2").await,
        Some(CaseRead::View(view_of(&fine.case)))
    );
    assert!(matches!(
        s.case_read(&tenant("acme"), &CaseId::parse("c-1").unwrap())
            .await,
        Err(StoreError::Corrupt(_))
    ));
}

/// Two processes starting the pass at once (replicas of one deploy) share it: each page is
/// written by one of them, the other finds it taken and stores nothing, and between them
/// every stale view is rendered again exactly once.
async fn replicas_running_the_view_pass_at_once_write_each_page_once(ctx: Ctx) {
    use aftersales_store::CaseRead;
    assert!(aftersales_store::render_case_views_with(&TEST_VIEW));
    let store = ctx.open(1).await;
    let mut cases = Vec::new();
    for i in 0..12 {
        let change = simple(["acme", "beta"][i % 2], &format!("c-{i:02}"));
        store.write(insert(change.clone())).await.unwrap();
        cases.push(change.case);
    }
    ctx.raw
        .execute(
            "UPDATE cases SET api_view_format = 8 WHERE tenant_id <> $1",
            "nobody",
        )
        .await;
    let replicas = [ctx.open(1).await, ctx.open(1).await];
    let passes = replicas.iter().map(|replica| async move {
        let (mut rendered, mut taken) = (0, 0);
        loop {
            let page = replica.refresh_case_views(2).await.unwrap();
            rendered += page.rendered;
            taken += u32::from(page.taken);
            if page.finished {
                return (rendered, taken);
            }
        }
    });
    let done = join_all(passes.collect()).await;
    let rendered: u32 = done.iter().map(|d| d.0).sum();
    assert_eq!(rendered, 12, "each stale view rendered once: {done:?}");
    assert!(
        done.iter().any(|d| d.1 > 0),
        "started together, one found a page taken: {done:?}"
    );
    for case in &cases {
        assert_eq!(
            read_case(&*store, case.tenant.as_str(), case.id.as_str()).await,
            Some(CaseRead::View(view_of(case)))
        );
    }
}
