//! Case writes to a SQLite file run through rusqlite, on a thread of their own.
//!
//! Why: sqlx's SQLite driver runs each connection on its own thread and hands every
//! statement to it and every result back through channels. A batch is BEGIN, four to a dozen
//! statements and COMMIT, so the group commit's one writer paid a dozen hand-offs per batch,
//! each a wake-up of a thread on a machine whose cores the gRPC workers keep busy, while
//! every caller of the batch waited. Here the writer task runs on a thread of its own
//! ([`GroupCommit::start_on_thread`](crate::group_commit::GroupCommit::start_on_thread)) and
//! calls SQLite directly: a batch costs its statements, its WAL writes and its fsync, and no
//! hand-off. Blocking that thread on the fsync is what it is for.
//!
//! The store's other writes (API keys, timer claims, migrations) stay on sqlx's one writer
//! connection. A batch holds that connection, unused, from BEGIN to COMMIT: the two never
//! contend for SQLite's write lock, and neither waits in SQLite's busy handler, which sleeps
//! in steps of milliseconds. The statements are those of every backend ([`crate::batch`]).

use crate::batch::{DbFailure, Exec, Statement, Value, Violation};
use crate::group_commit::{BatchWriter, Fail};
use crate::sqlite_checkpoint::WRITER_BACKSTOP_PAGES;
use crate::sqlite_read::error;
use crate::{CaseWrite, SqliteStore, StoreError, StoredEvent};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ffi, Connection, OpenFlags};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// What the writer waits for a lock another process holds (a second server or the `keys`
/// command on the same file), as sqlx's connections do.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept: each of a batch's six multi-row statements in its row counts (up
/// to 21 each, see [`crate::sql::row_chunks`]), and the single-row ones.
const STATEMENT_CACHE: usize = 256;

/// The group commit's writer for a SQLite file.
pub(crate) struct SqliteFileWriter {
    path: PathBuf,
    /// sqlx's writer pool (one connection), held by each batch as the write lock.
    lock: SqlitePool,
    /// The connection, between batches. Taken out for a batch; a batch that ends uncertain
    /// (a failed COMMIT or ROLLBACK) drops it, and the next one opens another.
    idle: Mutex<Option<Connection>>,
}

/// A batch's transaction: the connection, and sqlx's writer held so nothing else writes.
pub(crate) struct FileTx {
    conn: Connection,
    _lock: PoolConnection<Sqlite>,
}

impl SqliteFileWriter {
    pub(crate) fn new(path: &Path, lock: SqlitePool) -> Self {
        SqliteFileWriter {
            path: path.to_path_buf(),
            lock,
            idle: Mutex::new(None),
        }
    }

    /// With the durability and checks of sqlx's writer connection (see `SqliteStore::connect`).
    fn open(path: &Path) -> Result<Connection, StoreError> {
        // NO_MUTEX: one thread uses it at a time (it is taken out of `idle`).
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(error)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(error)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(error)?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)
            .map_err(error)?;
        // A batch's multi-row statements run inside its transaction, so SQLite keeps a
        // statement journal (the pages each statement changes, to undo just that statement)
        // and spills it to a temporary file past 64 KiB: traced under the realistic load,
        // that file took as many writes (a 4-byte page number and a 4 KiB page each) as the
        // WAL itself, on the one writer thread. In memory it costs at most the pages one
        // statement of one batch changes, freed when the statement ends; nothing in it needs
        // to survive a crash (the WAL is what commits).
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn keep(&self, conn: Connection) {
        *self.idle.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
    }

    /// Runs `statement` (BEGIN, COMMIT, ROLLBACK) and keeps the connection, or drops it if it
    /// failed: its transaction state is then unknown, and closing it rolls back.
    fn end(&self, tx: FileTx, statement: &str) -> Result<(), StoreError> {
        match tx.conn.execute_batch(statement) {
            Ok(()) => {
                self.keep(tx.conn);
                Ok(())
            }
            Err(e) => Err(error(e)),
        }
    }
}

#[async_trait::async_trait]
impl BatchWriter for SqliteFileWriter {
    type Tx = FileTx;
    const SYSTEM: &'static str = "sqlite";

    async fn begin(&self) -> Result<FileTx, Fail> {
        let lock = self
            .lock
            .acquire()
            .await
            .map_err(|e| Fail::Batch(SqliteStore::error(e)))?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take();
        let conn = match idle {
            Some(conn) => conn,
            None => Self::open(&self.path).map_err(Fail::Batch)?,
        };
        // IMMEDIATE: the write lock now, not at the first write.
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            self.keep(conn);
            return Err(Fail::Batch(error(e)));
        }
        Ok(FileTx { conn, _lock: lock })
    }

    async fn commit(&self, tx: FileTx) -> Result<(), Fail> {
        self.end(tx, "COMMIT").map_err(Fail::Batch)
    }

    async fn rollback(&self, tx: FileTx) {
        if let Err(e) = self.end(tx, "ROLLBACK") {
            tracing::debug!(error = %e, "rollback failed");
        }
    }

    async fn write_heads(
        &self,
        tx: &mut FileTx,
        writes: &[&CaseWrite],
    ) -> Result<Vec<Option<StoreError>>, (Option<usize>, Fail)> {
        crate::batch::write_heads(tx, writes).await
    }

    async fn write_tails(
        &self,
        tx: &mut FileTx,
        writes: &[&CaseWrite],
    ) -> Result<Vec<Vec<StoredEvent>>, Fail> {
        crate::batch::write_tails(tx, writes).await
    }

    async fn write_one(
        &self,
        tx: &mut FileTx,
        write: &CaseWrite,
    ) -> Result<Vec<StoredEvent>, Fail> {
        crate::batch::write_one(tx, write).await
    }
}

#[async_trait::async_trait]
impl Exec for FileTx {
    async fn execute(&mut self, statement: &Statement<'_>) -> Result<u64, DbFailure> {
        run(&self.conn, statement, |s| s.raw_execute()).map(|n| n as u64)
    }

    async fn fetch_int(&mut self, statement: &Statement<'_>) -> Result<i64, DbFailure> {
        run(&self.conn, statement, |s| match s.raw_query().next()? {
            Some(row) => row.get(0),
            None => Err(rusqlite::Error::QueryReturnedNoRows),
        })
    }

    async fn fetch_texts(&mut self, statement: &Statement<'_>) -> Result<Vec<String>, DbFailure> {
        run(&self.conn, statement, |s| {
            let mut rows = s.raw_query();
            let mut texts = Vec::new();
            while let Some(row) = rows.next()? {
                texts.push(row.get(0)?);
            }
            Ok(texts)
        })
    }
}

/// Prepares (once per text) and binds `statement`, then runs `step` on it.
fn run<T>(
    conn: &Connection,
    statement: &Statement<'_>,
    step: impl FnOnce(&mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<T>,
) -> Result<T, DbFailure> {
    let mut prepared = conn
        .prepare_cached(&numbered(statement.sql()))
        .map_err(failure)?;
    for (i, value) in statement.values().iter().enumerate() {
        prepared.raw_bind_parameter(i + 1, value).map_err(failure)?;
    }
    step(&mut prepared).map_err(failure)
}

/// `$n` as `?n`. SQLite reads `$1` as a parameter *named* "$1" and numbers named parameters in
/// the order they first appear, so `SET kind = $6 … WHERE tenant_id = $1` would bind the first
/// value to `$6`; `?n` is the n-th value wherever it appears. (sqlx maps the names itself.)
fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    // Byte by byte: a batch's statement is kilobytes, rewritten on every batch; a char at a
    // time cost 8,300 instructions per ingest, bytes cost 2,100 (callgrind, docs/benchmarks.md).
    // `$` and digits are ASCII, which never occurs inside a multi-byte UTF-8 sequence, so
    // replacing one ASCII byte by another keeps the text valid UTF-8.
    let mut out = sql.as_bytes().to_vec();
    for i in 0..out.len().saturating_sub(1) {
        if out[i] == b'$' && out[i + 1].is_ascii_digit() {
            out[i] = b'?';
        }
    }
    Cow::Owned(String::from_utf8(out).expect("ASCII replaced by ASCII stays UTF-8"))
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(Some(t)) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Text(None) | Value::Int(None) | Value::Bytes(None) => {
                ToSqlOutput::Borrowed(ValueRef::Null)
            }
            Value::Int(Some(i)) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Bytes(Some(b)) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// As sqlx classifies SQLite's errors: a unique or primary-key violation with SQLite's message
/// (which names the columns), a foreign-key violation, and busy or locked as unavailable.
fn failure(err: rusqlite::Error) -> DbFailure {
    let violation = match &err {
        rusqlite::Error::SqliteFailure(f, message) => match f.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                Violation::Unique(message.clone().unwrap_or_else(|| err.to_string()))
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Violation::ForeignKey,
            _ => Violation::None,
        },
        _ => Violation::None,
    };
    DbFailure {
        violation,
        retry: false,
        error: error(err),
    }
}

#[cfg(test)]
mod tests {
    use super::{failure, numbered, SqliteFileWriter};
    use crate::batch::Violation;
    use crate::StoreError;
    use rusqlite::ffi;

    #[test]
    fn placeholders_are_numbered_for_sqlite() {
        assert_eq!(
            numbered("UPDATE t SET a = $6 WHERE id = $1 AND b = $17"),
            "UPDATE t SET a = ?6 WHERE id = ?1 AND b = ?17"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
        assert_eq!(numbered("SELECT '$' || $2"), "SELECT '$' || ?2");
        assert_eq!(numbered("SELECT '退款$' || $3$"), "SELECT '退款$' || ?3$");
    }

    fn sqlite_failure(code: i32, message: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.into()))
    }

    /// The batch tells a duplicate platform record, a duplicate request and a missing case
    /// apart by these, as it does from sqlx's classification on the other paths.
    #[test]
    fn constraint_failures_are_classified_as_sqlx_does() {
        let unique = failure(sqlite_failure(
            ffi::SQLITE_CONSTRAINT_UNIQUE,
            "UNIQUE constraint failed: cases.tenant_id, cases.platform, cases.platform_case_id",
        ));
        assert!(
            matches!(&unique.violation, Violation::Unique(m) if m.contains("platform_case_id"))
        );
        let pk = failure(sqlite_failure(
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
            "UNIQUE constraint failed: idempotency_keys.tenant_id, idempotency_keys.request_id",
        ));
        assert!(matches!(pk.violation, Violation::Unique(_)));
        let fk = failure(sqlite_failure(
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
            "FOREIGN KEY constraint failed",
        ));
        assert_eq!(fk.violation, Violation::ForeignKey);
        let busy = failure(sqlite_failure(ffi::SQLITE_BUSY, "database is locked"));
        assert_eq!(busy.violation, Violation::None);
        assert!(matches!(busy.error, StoreError::Unavailable(_)));
        assert!(!busy.retry);
    }

    /// An acknowledged case write must survive a power cut (issue 9: durable writes, as the
    /// raw INSERT ceiling is measured): the writer syncs the WAL at every commit, and checks
    /// the foreign keys events and deadlines rely on, as sqlx's writer connection does.
    #[test]
    fn the_writer_connection_is_durable_and_checks_foreign_keys() {
        let dir = std::env::temp_dir().join(format!(
            "aftersales-writer-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .pragma_update(None, "journal_mode", "WAL")
            .unwrap();
        let conn = SqliteFileWriter::open(&path).unwrap();
        let pragma = |name: &str| -> i64 {
            conn.pragma_query_value(None, name, |row| row.get(0))
                .unwrap()
        };
        assert_eq!(pragma("synchronous"), 2, "FULL");
        assert_eq!(pragma("foreign_keys"), 1);
        assert_eq!(pragma("temp_store"), 2, "MEMORY");
        assert_eq!(
            pragma("wal_autocheckpoint"),
            i64::from(crate::sqlite_checkpoint::WRITER_BACKSTOP_PAGES)
        );
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
