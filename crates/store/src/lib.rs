//! Persistence behind one trait, with SQLite (embedded default) and PostgreSQL (production)
//! implementations that run the same SQL wherever the dialects allow.
//!
//! Every write is atomic: the case row, its deadlines, its events and the idempotency record
//! commit together or not at all. Concurrent writes share a transaction (group commit, see
//! [`group_commit`]) and each is acknowledged only once it has committed.

use aftersales_domain::access::{Role, ShopScope};
use aftersales_domain::event::Actor;
use aftersales_domain::{
    Case, CaseId, CaseKind, CaseState, Deadline, DueParty, NewEvent, OrderId, PlatformCaseId,
    PlatformCode, ShopId, TenantId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

mod batch;
pub mod case_view;
pub mod group_commit;
pub mod postgres;
pub mod postgres_grouped_reads;
mod postgres_read;
pub mod scratch;
mod sql;
pub mod sqlite;
mod sqlite_checkpoint;
mod sqlite_read;
mod sqlite_write;

pub use case_view::{render_case_views_with, CaseRead, CaseViewRenderer, StoredView};
pub use postgres::PostgresStore;
/// The SQL of [`Store::gauge_counts`], for the tests and benchmarks that EXPLAIN it.
pub mod gauge_sql {
    pub use crate::sql::{GAUGE_DEADLINES, GAUGE_OPEN_CASES, OPEN_STATES_SQL};
}
/// The page statement of [`Store::refresh_case_views`], for the test that EXPLAINs it.
pub mod view_pass_sql {
    pub use crate::sql::SELECT_VIEWS_TO_REFRESH;
}
pub use sqlite::SqliteStore;

/// Open the store a database URL names: `sqlite:…` (a file, created if missing, or
/// `sqlite::memory:`) or `postgres://…` / `postgresql://…` with a pool of
/// `pg_max_connections`. Migrations run before it returns.
pub async fn connect(url: &str, pg_max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    connect_with_writers(url, pg_max_connections, None).await
}

/// As [`connect`], with `pg_writers` group-commit writers on PostgreSQL rather than
/// [`postgres::default_writers`] of the pool. SQLite has one writer whatever this says: the
/// file takes one writing transaction at a time.
pub async fn connect_with_writers(
    url: &str,
    pg_max_connections: u32,
    pg_writers: Option<usize>,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let writers = pg_writers.unwrap_or_else(|| postgres::default_writers(pg_max_connections));
        Ok(Arc::new(
            PostgresStore::connect_with_writers(
                postgres::parse_url(url)?,
                pg_max_connections,
                writers,
            )
            .await?,
        ))
    } else {
        // Not echoing the URL: it may hold a password.
        Err(StoreError::Database(
            "unsupported database URL: expected sqlite://PATH or postgres://USER@HOST/DB"
                .to_string(),
        ))
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the case changed since it was read.
    #[error("case {case_id} was changed concurrently (expected version {expected})")]
    VersionConflict { case_id: String, expected: i64 },
    /// A case for this platform record already exists (a concurrent first ingest).
    #[error("a case for {platform} record {platform_case_id} already exists")]
    DuplicatePlatformCase {
        platform: String,
        platform_case_id: String,
    },
    /// The request id was already used; the first answer is stored.
    #[error("request id {request_id} was already used")]
    DuplicateRequest { request_id: String },
    /// A key id that already exists.
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    /// The row is not in a state the change needs (a revoked key rotated).
    #[error("{0}")]
    Precondition(String),
    /// The database cannot be reached or refused the connection; retrying may help.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored row that does not parse: a bug or a manual edit, never silently skipped.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    /// A query would read more rows than it may; the caller narrows it.
    #[error("{0}")]
    TooMany(String),
}

/// An API key as stored: the secret only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub tenant: TenantId,
    pub account: String,
    pub role: Role,
    pub platform_task: bool,
    pub shops: ShopScope,
    /// An Argon2id PHC string of the secret part of the key (keys made before Argon2 hold a
    /// hex SHA-256).
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    /// The account that made it (empty for keys made with the command line).
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Set on the old key of a rotation: it keeps working until then.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key that replaced this one in a rotation.
    pub replaced_by: Option<String>,
}

/// Where a key stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    /// Rotated, still working until its `expires_at`.
    Expiring,
    Expired,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expiring => "expiring",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

impl ApiKeyRecord {
    pub fn state(&self, now: DateTime<Utc>) -> KeyState {
        match (self.revoked_at, self.expires_at) {
            (Some(t), _) if t <= now => KeyState::Revoked,
            (_, Some(t)) if t <= now => KeyState::Expired,
            (_, Some(_)) => KeyState::Expiring,
            _ => KeyState::Active,
        }
    }

    /// Whether the key authenticates at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        matches!(self.state(now), KeyState::Active | KeyState::Expiring)
    }
}

/// The authenticated caller behind a write, recorded on every event it appends (audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub key_id: String,
}

/// Filters for ListCases; all present filters must hold (AND). Results are in case-id order
/// (ids are time-ordered), resumed after `after_id` (keyset pagination, never OFFSET).
///
/// Every time bound is exclusive (`<` / `>`), at millisecond precision as stored: for an
/// inclusive bound pass the neighbouring millisecond. A case without an active deadline
/// matches neither deadline bound. `limit` 0 returns nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseQuery {
    pub platform: Option<PlatformCode>,
    pub shop: Option<ShopId>,
    pub kind: Option<CaseKind>,
    pub state: Option<CaseState>,
    pub next_deadline_before: Option<DateTime<Utc>>,
    pub next_deadline_after: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Only cases a platform message marked for a fresh fetch.
    pub needs_refresh: bool,
    /// only resolved cases whose satisfaction check stands so.
    pub satisfaction: Option<aftersales_domain::satisfaction::SatisfactionStatus>,
    /// A shop-scoped caller's shops: only cases of these (empty: no limit).
    pub shops: Vec<ShopId>,
    pub after_id: Option<CaseId>,
    pub limit: u32,
}

/// AL-23: the window (and optionally platform and shop) shop health is computed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthQuery {
    pub from: DateTime<Utc>,
    /// Exclusive.
    pub to: DateTime<Utc>,
    pub platform: Option<PlatformCode>,
    pub shop: Option<ShopId>,
    /// A shop-scoped caller's shops (empty: no limit).
    pub shops: Vec<ShopId>,
}

/// Cases one shop-health answer may read; a wider window is refused rather than slow.
pub const MAX_HEALTH_CASES: u32 = 200_000;

/// One order on one platform and shop: where TB-03, TB-29 and PD-07 look for the cases
/// opened before (on any of its lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    pub platform: PlatformCode,
    pub shop: ShopId,
    pub order_id: OrderId,
}

/// An event as stored: its place in the tenant's feed is `seq`, gap-free and in commit order
/// per tenant, so a follower resuming from a cursor misses nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub tenant: TenantId,
    pub case_id: CaseId,
    /// The event name (`EventKind::as_str`).
    pub kind: String,
    pub actor: Actor,
    pub from_state: Option<CaseState>,
    pub to_state: Option<CaseState>,
    pub detail: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    /// The authenticated caller whose request made the change; None for the deadline engine.
    pub recorded_by: Option<Caller>,
}

/// The stored answer to a request carrying a request_id (AIP-155).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_id: String,
    /// The RPC method, so a request id reused for another method is caught.
    pub method: String,
    /// Digest of the request, so a request id reused with a different body is caught.
    pub fingerprint: String,
    /// The encoded response message.
    pub response: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// A new case.
    Insert,
    /// Replace the stored case whose version is `expected_version`.
    Update { expected_version: i64 },
    /// Leave the case row alone; only append events (a refused or stale record).
    EventsOnly,
}

/// One atomic write.
#[derive(Debug, Clone)]
pub struct CaseWrite {
    pub case: Case,
    pub mode: WriteMode,
    pub events: Vec<NewEvent>,
    pub idempotency: Option<IdempotencyRecord>,
    /// Recorded on every event of the write.
    pub caller: Option<Caller>,
}

/// What one page of the pass that renders stale case views again did
/// ([`Store::refresh_case_views`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewRefreshPage {
    /// Cases the page looked at.
    pub examined: u32,
    /// Of those, the ones whose view was stale and is now rendered again (a case written
    /// meanwhile is left to the view its write rendered).
    pub rendered: u32,
    /// The pass has been through every case, in this call or before it (and is so recorded
    /// for this format), or this process renders no views.
    pub finished: bool,
    /// Another process running the same pass wrote this page first; this call stored
    /// nothing and counts nothing. Let that one go ahead.
    pub taken: bool,
}

/// What the group commit has done since the store was opened (see [`group_commit`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions that committed at least one case write.
    pub batches: u64,
    /// Case writes those transactions committed.
    pub writes: u64,
    /// The most case writes one transaction committed.
    pub largest_batch: u64,
    /// Transactions begun for case writes, including those rolled back to run a batch again
    /// without a failed write.
    pub transactions: u64,
    /// Writes left out because their caller stopped waiting before COMMIT.
    pub abandoned: u64,
    /// Writes waiting for their answer right now: queued or in a batch.
    pub pending: u64,
    /// Writer tasks taking batches, each with its own transaction (always 1 on SQLite).
    pub writers: u64,
}

impl WriteStats {
    /// Case writes per committed transaction.
    pub fn mean_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.writes as f64 / self.batches as f64
        }
    }
}

/// Which signal of a deadline is due: the "about to time out" reminder or the expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    Reminder,
    Expiry,
}

/// A claim on due timers for one sweep. Times come from the caller's clock, never the
/// database's, so tests can drive the sweep with an injected clock.
#[derive(Debug, Clone)]
pub struct TimerClaim {
    /// Who holds the lease (one id per server process).
    pub owner: String,
    /// Timers due at or before this instant are claimed.
    pub now: DateTime<Utc>,
    /// The lease ends here; an unfinished claim (a crashed worker) is claimable again after.
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
}

/// One claimed timer: deadline `position` of a case (its index in `Case::deadlines`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedTimer {
    pub tenant: TenantId,
    pub case_id: CaseId,
    pub position: u32,
    pub kind: TimerKind,
    /// `remind_at` for a reminder, `due_at` for an expiry.
    pub at: DateTime<Utc>,
}

/// Filters for ListDueDeadlines: active deadlines of one tenant in (due time, case id,
/// position) order, resumed after `after` (keyset). `due_before` is exclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DueDeadlineQuery {
    pub shop: Option<ShopId>,
    pub platform: Option<PlatformCode>,
    pub due_party: Option<DueParty>,
    pub due_before: Option<DateTime<Utc>>,
    /// A shop-scoped caller's shops (empty: no limit).
    pub shops: Vec<ShopId>,
    pub after: Option<DueDeadlineCursor>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDeadlineCursor {
    pub due_at: DateTime<Utc>,
    pub case_id: CaseId,
    pub position: u32,
}

/// What the metrics gauges report, counted across all tenants at one instant
/// ([`Store::gauge_counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GaugeCounts {
    /// Cases in a state they can still leave, per platform and state; states with no case are
    /// left out.
    pub open_cases: Vec<OpenCaseCount>,
    /// Active deadlines per platform; platforms with none are left out.
    pub deadlines: Vec<ActiveDeadlineCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpenCaseCount {
    pub platform: String,
    pub state: CaseState,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ActiveDeadlineCount {
    pub platform: String,
    /// Due after the instant counted at.
    pub due: u64,
    /// Due at or before it and still active: not fired yet (the engine's backlog).
    pub overdue: u64,
}

/// An active deadline with the case it belongs to, as the work queue shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDeadline {
    pub tenant: TenantId,
    pub case_id: CaseId,
    pub shop: ShopId,
    pub platform: PlatformCode,
    pub position: u32,
    pub deadline: Deadline,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend, for logs and spans ("sqlite" / "postgres").
    fn backend(&self) -> &'static str;

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// A key by id, active or not (authentication reads it on every call, so a revocation
    /// holds on every replica at once).
    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// The tenant's keys in key-id order after `after_key_id`, revoked and expired ones
    /// included.
    async fn list_api_keys(
        &self,
        tenant: &TenantId,
        after_key_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revoke a key of the tenant at `at` (a key revoked before keeps its first time).
    /// None if the tenant has no such key.
    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Rotation, atomically: store `new` and let the old key work only until
    /// `old_expires_at`. None if the tenant has no such key; `StoreError::Precondition` if
    /// the old key was revoked or already rotated.
    async fn rotate_api_key(
        &self,
        tenant: &TenantId,
        old_key_id: &str,
        new: &ApiKeyRecord,
        old_expires_at: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;

    async fn case(&self, tenant: &TenantId, id: &CaseId) -> Result<Option<Case>, StoreError>;
    /// GetCase's read: the case's stored API view where that is current, else the case
    /// decoded from its body ([`case_view`]).
    async fn case_read(
        &self,
        tenant: &TenantId,
        id: &CaseId,
    ) -> Result<Option<CaseRead>, StoreError>;
    /// ListCases' read: [`Store::list_cases`]'s page, each case as [`Store::case_read`] reads it.
    async fn list_case_reads(
        &self,
        tenant: &TenantId,
        query: &CaseQuery,
    ) -> Result<Vec<CaseRead>, StoreError>;
    async fn case_by_platform_id(
        &self,
        tenant: &TenantId,
        platform: &PlatformCode,
        platform_case_id: &PlatformCaseId,
    ) -> Result<Option<Case>, StoreError>;
    async fn list_cases(
        &self,
        tenant: &TenantId,
        query: &CaseQuery,
    ) -> Result<Vec<Case>, StoreError>;
    /// AL-23: the shop-health facts of every case opened in the window.
    async fn case_health_facts(
        &self,
        tenant: &TenantId,
        query: &HealthQuery,
    ) -> Result<Vec<aftersales_domain::health::CaseHealthFacts>, StoreError>;
    /// The cases opened on one order, every line, oldest first (at most 100: an order has a
    /// handful).
    async fn cases_on_order(
        &self,
        tenant: &TenantId,
        order: &OrderRef,
    ) -> Result<Vec<Case>, StoreError>;

    /// Events of one case after `after_seq`, oldest first.
    async fn case_events(
        &self,
        tenant: &TenantId,
        case_id: &CaseId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// The tenant's whole feed after `after_seq`, oldest first (WatchCaseEvents); only the
    /// events of `shops` unless it is empty.
    async fn tenant_events(
        &self,
        tenant: &TenantId,
        shops: &[ShopId],
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    async fn idempotent_response(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Commit one change atomically and return the events as stored (with their seq). Returns
    /// once the transaction it shared with concurrent writes has committed; a caller that
    /// stops waiting before then is left out of it, one that stops later may have committed.
    async fn write(&self, write: CaseWrite) -> Result<Vec<StoredEvent>, StoreError>;

    /// The next page, of at most `limit` cases, of the pass that renders again every stored
    /// case view that is not current in the format this process renders ([`case_view`], "the
    /// pass"). Resumes where the last call for this format left off, in this process or
    /// another; call until it answers `finished`. Processes calling it at once write each
    /// page once: a page is claimed by moving the recorded progress past it in the page's
    /// own transaction.
    async fn refresh_case_views(&self, limit: u32) -> Result<ViewRefreshPage, StoreError>;

    /// Counters of the group commit behind [`write`](Self::write).
    fn write_stats(&self) -> WriteStats;

    /// How concurrent lookups were grouped into shared statements so far, by what they look
    /// up (`"case"`: a case by id or platform id; `"request"`: a stored request); empty
    /// where the backend runs each lookup alone (SQLite).
    fn grouped_read_stats(&self) -> Vec<(&'static str, postgres_grouped_reads::GroupedReadStats)>;

    /// Cases by key in one query (the sweep loads what it claimed without N+1). Missing keys
    /// are left out; order is unspecified.
    async fn cases_by_ids(&self, keys: &[(TenantId, CaseId)]) -> Result<Vec<Case>, StoreError>;

    /// Lease up to `claim.limit` due timers across all tenants, earliest first: expiries
    /// (`due_at <= now`) first, then reminders (`remind_at <= now < due_at`, not yet sent).
    /// A timer leased to anyone until after `now` is skipped, so concurrent sweepers on one
    /// database never claim the same row (Postgres: `FOR UPDATE SKIP LOCKED`; SQLite: one
    /// `UPDATE … RETURNING`). Completing a timer is writing its case: the write replaces the
    /// case's deadline rows, which drops the lease.
    async fn claim_due_timers(&self, claim: &TimerClaim) -> Result<Vec<ClaimedTimer>, StoreError>;

    /// Drop `owner`'s leases on these timers without completing them, so they are claimable
    /// at once (the sweep found nothing to do, or gives up for now).
    async fn release_timers(&self, owner: &str, timers: &[ClaimedTimer]) -> Result<(), StoreError>;

    /// The earliest instant any active timer (an unsent reminder or an expiry) is due, to
    /// know how long the sweeper may sleep.
    async fn next_timer_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The tenant's work queue: active deadlines across shops by due time (ListDueDeadlines).
    async fn list_due_deadlines(
        &self,
        tenant: &TenantId,
        query: &DueDeadlineQuery,
    ) -> Result<Vec<DueDeadline>, StoreError>;

    /// Open cases per platform and state, and active deadlines per platform split at `now`
    /// into due and overdue, across every tenant: what the metrics gauges report. Each count
    /// reads a partial index of the rows it counts, never the closed cases.
    async fn gauge_counts(&self, now: DateTime<Utc>) -> Result<GaugeCounts, StoreError>;
}
