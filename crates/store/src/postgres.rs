//! PostgreSQL: the production backend. Half its connections serve reads (outside sqlx's pool,
//! see [`crate::postgres_read`]), half a pool for writes, the deadline sweep and migrations.

use crate::group_commit::GroupCommit;
use crate::postgres_grouped_reads::{GroupedCaseReads, GroupedReadStats, GroupedRequestReads};
use crate::postgres_read::{ReadConnection, ReadConnections};
use crate::sql;
use crate::StoreError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per pool connection (see where the pool is made).
const STATEMENT_CACHE: usize = 256;

/// A pooled connection idle longer than this is pinged before it is handed out; one used
/// more recently is handed out as it is. sqlx's own check pings before every use — a round
/// trip to the server per call, as many as a GetCase's query itself — while a connection
/// busy a moment ago has shown it is alive (sqlx also pings it when it comes back to the
/// pool). A connection that died in between fails its statement, which is answered as
/// UNAVAILABLE (retryable), and sqlx drops it.
pub(crate) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Case writes are grouped (see [`crate::group_commit`]) by a few writer tasks, each running
/// its batch in its own transaction on a connection of the pool while the next batch forms.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// Writes, the deadline sweep, migrations.
    pool: PgPool,
    /// Reads, outside the pool (see [`crate::postgres_read`]).
    readers: Arc<ReadConnections>,
    case_reads: GroupedCaseReads,
    request_reads: GroupedRequestReads,
    group: GroupCommit,
}

/// Group-commit writers for a pool of `max_connections`: an eighth of the pool, 1 to 4 (2
/// for the default pool of 16). Each holds a connection only while it runs a batch. More
/// writers overlap one batch's statements with another's commit, but split the waiting
/// writes into smaller batches, and every batch queues on the counter row of each tenant it
/// writes until the one before commits: at 16 concurrent writers of one tenant, 1 or 2
/// writers measured best and 4 about a quarter slower (docs/benchmarks.md).
pub fn default_writers(max_connections: u32) -> usize {
    (max_connections / 8).clamp(1, 4) as usize
}

/// `max_connections` split between reads and the pool (writes, the deadline sweep,
/// migrations): half each, at least one each. Reads no longer hold pool connections, so the
/// pool needs few: each group-commit writer holds one per batch, the sweep one per claim.
pub fn split_connections(max_connections: u32) -> (u32, u32) {
    let reads = (max_connections / 2).max(1);
    (reads, max_connections.saturating_sub(reads).max(1))
}

/// The connection options a `postgres://…` URL gives. The URL may carry a password, so the
/// error does not repeat it.
pub fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Database(format!("bad PostgreSQL URL: {e}")))
}

impl PostgresStore {
    /// Connect to `url` (`postgres://…` or `postgresql://…`) and bring the schema up to date.
    ///
    /// Migrations run here, on every start: sqlx's Postgres migrator holds an advisory lock
    /// while it works, so replicas starting together apply each migration exactly once and
    /// the others wait for it rather than failing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(parse_url(url)?, max_connections).await
    }

    /// As [`connect`](Self::connect), from options built in code.
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        Self::connect_with_writers(options, max_connections, default_writers(max_connections)).await
    }

    /// As [`connect_with`](Self::connect_with), with `writers` group-commit writer tasks
    /// (at least one; more than the pool has connections only wait for one).
    pub async fn connect_with_writers(
        options: PgConnectOptions,
        max_connections: u32,
        writers: usize,
    ) -> Result<Self, StoreError> {
        // The pool retries a refused connection until its acquire timeout and then reports
        // only "pool timed out"; one direct attempt first tells the operator the real reason.
        match tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options)).await {
            Ok(Ok(probe)) => {
                let _ = probe.close().await;
            }
            Ok(Err(e)) => return Err(Self::error(e)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "no connection to PostgreSQL within {ACQUIRE_TIMEOUT:?}"
                )))
            }
        }
        let (read_connections, pool_connections) = split_connections(max_connections);
        let readers = Arc::new(ReadConnections::new(
            options.clone(),
            read_connections,
            ACQUIRE_TIMEOUT,
        ));
        // Multi-row statements of a batch have one text per row count (sql::row_chunks: up to
        // 21 per table), six tables of them besides the rest: more than sqlx's default of 100
        // prepared statements per connection, past which it closes and re-parses statements.
        let pool_options = options.statement_cache_capacity(STATEMENT_CACHE);
        let pool = PgPoolOptions::new()
            .max_connections(pool_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(pool_options)
            .await
            .map_err(Self::error)?;
        let group = GroupCommit::start(PgBatchWriter { pool: pool.clone() }, writers);
        // Lookups of one case run at most half the read connections' statements at once, and
        // of a stored request a quarter, sharing them when more queue
        // (crate::postgres_grouped_reads); the rest are left to pages, events and the other
        // reads a write makes first.
        let case_reads =
            GroupedCaseReads::new(readers.clone(), (read_connections as usize / 2).max(1));
        let request_reads =
            GroupedRequestReads::new(readers.clone(), (read_connections as usize / 4).max(1));
        let store = PostgresStore {
            pool,
            readers,
            case_reads,
            request_reads,
            group,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Apply pending migrations. `connect` already does; this is idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| sql::migrate_error(e, unavailable_code))
    }

    /// Close the pool, waiting for connections in use to be returned, and the read
    /// connections. Reads and case writes after this fail as unavailable.
    pub async fn close(&self) {
        self.readers.close();
        self.pool.close().await;
    }

    async fn read_connection(&self) -> Result<ReadConnection<'_>, sqlx::Error> {
        self.readers.acquire().await
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn direct_reader(&self) -> Option<&crate::sqlite_read::DirectReader> {
        None
    }

    fn grouped_case_reads(&self) -> Option<&GroupedCaseReads> {
        Some(&self.case_reads)
    }

    fn grouped_request_reads(&self) -> Option<&GroupedRequestReads> {
        Some(&self.request_reads)
    }

    /// How lookups of one case (by id or platform id) were grouped into statements so far.
    pub fn case_read_stats(&self) -> GroupedReadStats {
        self.case_reads.stats()
    }

    /// How lookups of a stored request were grouped into statements so far.
    pub fn request_read_stats(&self) -> GroupedReadStats {
        self.request_reads.stats()
    }

    fn group(&self) -> &GroupCommit {
        &self.group
    }

    fn error(err: sqlx::Error) -> StoreError {
        classify(err)
    }
}

/// A driver error as a store error, PostgreSQL's codes for an unavailable server included.
pub(crate) fn classify(err: sqlx::Error) -> StoreError {
    sql::classify(err, unavailable_code)
}

/// SQLSTATEs after which a retry can succeed without anything changing on our side: class 08
/// (connection exception), 57P01–57P03 (server shutting down or starting), 53300 (too many
/// connections).
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// Run before the timer claim, in its transaction. The claim wants the first N due rows in
/// `due_at` order, which an ordered walk of the partial index gives after reading N rows. When a
/// backlog builds up faster than statistics are refreshed, the planner guesses few due rows and
/// picks a bitmap scan plus sort instead, which reads the whole backlog on every batch (measured:
/// 512 of 20,000 due in 36 ms, against 2.9 ms walking the index; see docs/benchmarks.md).
const CLAIM_SETUP: &str = "SET LOCAL enable_bitmapscan = off";

// Concurrent sweepers (replicas) each lock the rows their claim picks and skip rows another
// claim holds, rather than queueing behind it and then leasing the same rows again.
sql::impl_store!(
    PostgresStore,
    sqlx::Postgres,
    "postgres",
    "postgresql",
    " FOR UPDATE SKIP LOCKED",
    CLAIM_SETUP
);
crate::batch::impl_sqlx_batch_writer!(PgBatchWriter, PostgresStore, sqlx::Postgres, "postgresql");
