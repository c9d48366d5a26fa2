//! SQLite: the embedded default. One file, WAL, one writer connection and a few readers.

use crate::group_commit::GroupCommit;
use crate::sql;
use crate::sqlite_checkpoint::{Checkpointer, WRITER_BACKSTOP_PAGES};
use crate::sqlite_read::DirectReader;
use crate::sqlite_write::SqliteFileWriter;
use crate::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: u32 = 4;

/// SQLite allows one writer at a time anyway, and sqlx's driver pays a thread hop per
/// statement, so all writes share one sqlx connection (no lock contention between our own
/// writers) and reads get their own small pool that WAL lets run beside the writer. Case
/// writes are grouped by one writer task: one transaction, one WAL sync, for every write
/// waiting (see [`crate::group_commit`]); on a file it writes through rusqlite on a thread of
/// its own, holding the sqlx writer meanwhile (see [`crate::sqlite_write`]). A case and a
/// page of cases are read without sqlx when the database is a file (see
/// [`crate::sqlite_read`]).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// What only a database file has (an in-memory one is visible to the writer's
    /// connection alone); its checkpointer stops with the last clone.
    file: Option<Arc<FileAccess>>,
    group: GroupCommit,
}

impl SqliteStore {
    /// Open (creating it and its directory if missing) the database at `url`
    /// (`sqlite:path/to/file.db`, `sqlite:///abs/path.db`, or `sqlite::memory:`) and bring its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");

        let writer_options = if in_memory {
            options.clone()
        } else {
            if let Some(dir) = options
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                create_dir(dir)?;
            }
            options
                .clone()
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .pragma("wal_autocheckpoint", WRITER_BACKSTOP_PAGES.to_string())
        };
        // The writer is never recycled: for an in-memory database closing the last
        // connection would drop the data, and for a file there is no reason to reconnect.
        // No ping before each use: a connection to a local file does not go stale, and sqlx's
        // ping is a round trip through the connection's worker thread (it already pings again
        // when a connection goes back to the pool). Profiling GetCase showed those hand-offs as
        // most of the server's time.
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(writer_options)
            .await
            .map_err(Self::error)?;

        let path = options.get_filename().to_path_buf();
        let reader = if in_memory {
            // Separate connections to an in-memory database would each see an empty one.
            writer.clone()
        } else {
            // WAL is a property of the file, already set by the writer; readers only read.
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(READERS)
                .acquire_timeout(BUSY_TIMEOUT)
                .connect_lazy_with(options.read_only(true))
        };

        // After the writer connected: it made the file and switched it to WAL.
        let file = if in_memory {
            None
        } else {
            let checkpointer = Checkpointer::start(&path).map_err(|e| {
                StoreError::Unavailable(format!("cannot start the WAL checkpointer: {e}"))
            })?;
            Some(Arc::new(FileAccess {
                reader: DirectReader::new(&path),
                checkpointer,
            }))
        };
        let group = if in_memory {
            GroupCommit::start(
                SqliteBatchWriter {
                    pool: writer.clone(),
                },
                1,
            )
        } else {
            GroupCommit::start_on_thread(
                SqliteFileWriter::new(&path, writer.clone()),
                "sqlite-writer",
            )
            .map_err(|e| StoreError::Unavailable(format!("cannot start the case writer: {e}")))?
        };
        let store = SqliteStore {
            writer,
            reader,
            file,
            group,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Apply pending migrations. `connect` already does; this is idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|e| sql::migrate_error(e, unavailable_code))
    }

    /// Close both pools, waiting for connections in use to be returned. Case writes after
    /// this fail as unavailable.
    pub async fn close(&self) {
        if let Some(file) = &self.file {
            file.checkpointer.stop();
        }
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn read_connection(&self) -> Result<sql::PooledRead<sqlx::Sqlite>, sqlx::Error> {
        self.reader.acquire().await.map(sql::PooledRead)
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn grouped_case_reads(&self) -> Option<&crate::postgres_grouped_reads::GroupedCaseReads> {
        None
    }

    fn grouped_request_reads(&self) -> Option<&crate::postgres_grouped_reads::GroupedRequestReads> {
        None
    }

    fn direct_reader(&self) -> Option<&DirectReader> {
        self.file.as_deref().map(|f| &f.reader)
    }

    fn group(&self) -> &GroupCommit {
        &self.group
    }

    pub(crate) fn error(err: sqlx::Error) -> StoreError {
        sql::classify(err, unavailable_code)
    }
}

/// The parts of a SQLite store that work on the database file beside sqlx: the hot reads
/// (see [`crate::sqlite_read`]) and the WAL checkpoints (see [`crate::sqlite_checkpoint`]).
#[derive(Debug)]
struct FileAccess {
    reader: DirectReader,
    checkpointer: Checkpointer,
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot create database directory {}: {e}",
            dir.display()
        ))
    })
}

/// SQLITE_BUSY and SQLITE_LOCKED (with their extended codes): another process held the
/// database past the busy timeout. SQLITE_CANTOPEN: the file is not reachable.
fn unavailable_code(code: &str) -> bool {
    code.parse::<i32>().is_ok_and(unavailable)
}

/// [`unavailable_code`] for a numeric (extended) result code.
pub(crate) fn unavailable(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 14)
}

// No lock clause: SQLite lets one statement at a time write to the whole database, so the
// select inside a claim and its update cannot interleave with another claim's.
sql::impl_store!(SqliteStore, sqlx::Sqlite, "sqlite", "sqlite", "", "");
crate::batch::impl_sqlx_batch_writer!(SqliteBatchWriter, SqliteStore, sqlx::Sqlite, "sqlite");

// Here rather than in tests/store.rs: it checks the statement text itself, which is private.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimerKind;

    /// The `detail` column of `EXPLAIN QUERY PLAN`, one line per step. Every placeholder
    /// needs a value; the plan does not depend on which.
    async fn plan(store: &SqliteStore, statement: &str, placeholders: usize) -> Vec<String> {
        let explain = format!("EXPLAIN QUERY PLAN {statement}");
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
        for _ in 0..placeholders {
            q = q.bind(0_i64);
        }
        q.fetch_all(store.writer())
            .await
            .unwrap_or_else(|e| panic!("EXPLAIN {statement}: {e}"))
            .into_iter()
            .map(|r| r.3)
            .collect()
    }

    /// Fails if a step of the plan reads `table` (its name or alias in the statement) whole.
    fn assert_no_scan(statement: &str, plan: &[String], table: &str) {
        assert!(
            !plan.iter().any(|step| step == &format!("SCAN {table}")
                || step.starts_with(&format!("SCAN {table} "))),
            "{statement}\nscans {table}: {plan:#?}"
        );
    }

    fn assert_searches(statement: &str, plan: &[String], search: &str) {
        assert!(
            plan.iter().any(|step| step.starts_with(search)),
            "{statement}\nhas no step {search}…: {plan:#?}"
        );
    }

    /// Without the partial indexes a sweep reads every deadline ever stored (closed ones stay
    /// in the table); the claims must search them, which they can only if their WHERE repeats
    /// each index's predicate.
    #[tokio::test]
    async fn timer_statements_use_the_partial_indexes() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let cases = [
            (sql::SELECT_DUE_EXPIRIES.to_string(), "deadlines_active_due"),
            (
                sql::claim_timers(TimerKind::Expiry, ""),
                "deadlines_active_due",
            ),
            (
                sql::SELECT_DUE_REMINDERS.to_string(),
                "deadlines_pending_reminder",
            ),
            (
                sql::claim_timers(TimerKind::Reminder, ""),
                "deadlines_pending_reminder",
            ),
        ];
        for (statement, index) in cases {
            let plan = plan(&store, &statement, 4).await;
            assert_searches(
                &statement,
                &plan,
                &format!("SEARCH deadlines USING INDEX {index} ("),
            );
            assert_no_scan(&statement, &plan, "deadlines");
        }

        let plan = plan(&store, sql::NEXT_TIMER_AT, 0).await;
        for index in ["deadlines_active_due", "deadlines_pending_reminder"] {
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "next_timer_at does not use {index}: {plan:#?}"
            );
        }
        assert_no_scan(sql::NEXT_TIMER_AT, &plan, "deadlines");
    }

    /// A case write's statements on rows that exist find them by primary key: the case
    /// update, and the DELETE that trims an updated case's deadline rows (its CASE must not
    /// turn the IN list into a scan of the tenant's deadlines).
    #[tokio::test]
    async fn case_write_statements_find_rows_by_primary_key() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let update = plan(&store, sql::UPDATE_CASE, 21).await;
        assert_searches(
            sql::UPDATE_CASE,
            &update,
            "SEARCH cases USING INDEX sqlite_autoindex_cases_1 (tenant_id=? AND id=?)",
        );

        // The batch's several updates in one statement: each VALUES tuple finds its case by
        // key (the primary key, or an index that ends in it), rather than the join reading
        // every case.
        let mut together = crate::batch::Statement::new(sql::UPDATE_CASE_ROWS);
        together.push_rows(0..2_i64, |row, _| {
            row.bind_all((0..21).map(|_| crate::batch::Value::from(0_i64)));
        });
        together.push(sql::UPDATE_CASE_ROWS_END);
        let together_plan = plan(&store, together.sql(), 42).await;
        assert!(
            together_plan
                .iter()
                .any(|step| step.starts_with("SEARCH c USING INDEX ")
                    && step.contains("(tenant_id=?")
                    && step.ends_with(" AND id=?)")),
            "{}\ndoes not look each case up: {together_plan:#?}",
            together.sql()
        );
        assert_no_scan(together.sql(), &together_plan, "c");

        let q = crate::batch::delete_surplus_deadlines("t", &[("a", 1), ("b", 0)]);
        let surplus = plan(&store, q.sql(), q.values().len()).await;
        assert!(
            surplus
                .iter()
                .any(|step| step.starts_with("SEARCH deadlines USING")
                    && step.contains("sqlite_autoindex_deadlines_1 (tenant_id=? AND case_id=?)")),
            "{}\ndoes not search the primary key: {surplus:#?}",
            q.sql()
        );
        assert_no_scan(q.sql(), &surplus, "deadlines");
    }

    /// the satisfaction call list reads its partial index, not every case of the tenant
    /// (most of a long-lived database is resolved cases).
    #[tokio::test]
    async fn satisfaction_list_reads_its_partial_index() {
        use aftersales_domain::satisfaction::SatisfactionStatus;
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let tenant = aftersales_domain::TenantId::parse("t").unwrap();
        let query = crate::CaseQuery {
            satisfaction: Some(SatisfactionStatus::Unchecked),
            limit: 50,
            ..Default::default()
        };
        let q = sql::case_list_query(&tenant, &query);
        let steps = plan(&store, q.sql(), q.values().len()).await;
        assert_searches(
            q.sql(),
            &steps,
            "SEARCH cases USING INDEX cases_by_satisfaction (tenant_id=? AND satisfaction=?",
        );
    }

    /// The key-list statements look each key up rather than reading the whole table.
    #[tokio::test]
    async fn key_list_statements_look_keys_up() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let by_ids = format!(
            "{}VALUES ($1, $2), ($3, $4){}",
            sql::CASES_BY_IDS,
            sql::CASES_BY_IDS_ON
        );
        let by_ids_plan = plan(&store, &by_ids, 4).await;
        assert_searches(&by_ids, &by_ids_plan, "SEARCH c USING INDEX");
        assert_no_scan(&by_ids, &by_ids_plan, "c");

        let release = format!(
            "{}VALUES ($1, $2, $3), ($4, $5, $6){}$7",
            sql::RELEASE_TIMERS,
            sql::RELEASE_TIMERS_WHERE
        );
        let release_plan = plan(&store, &release, 7).await;
        assert_searches(&release, &release_plan, "SEARCH deadlines USING INDEX");
        assert_no_scan(&release, &release_plan, "deadlines");
    }
}
