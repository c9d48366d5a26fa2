//! The hot SQLite reads (a case by id, a page of cases, and what every write reads first: the
//! case by its platform id, a stored request, the cases on an order) run on the calling
//! thread through rusqlite instead of through sqlx.
//!
//! Why: sqlx's SQLite driver runs every connection on a thread of its own and passes each
//! command and each row back through channels. Profiling GetCase (docs/benchmarks.md) put a
//! quarter to a third of the server's time in those hand-offs, against a few per cent in
//! SQLite itself; a page of 50 cases pays the hand-off 50 times.
//!
//! Why it may block an async worker: a read here is a primary-key or index walk over pages
//! that are almost always in SQLite's or the OS's cache — tens of microseconds, less than the
//! hand-offs it replaces. WAL readers never wait for the writer; the one wait left is SQLite's
//! own retry while a checkpoint or a crashed writer's recovery holds the WAL index, bounded
//! by [`BUSY_TIMEOUT`]. A case this reader cannot open (an in-memory database, which only its
//! own connection sees) keeps the sqlx path.

use crate::batch::Statement;
use crate::sql::{self, SqlRow};
use crate::{CaseRead, IdempotencyRecord, OrderRef, StoreError};
use aftersales_domain::{Case, CaseId, PlatformCaseId, PlatformCode, TenantId};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Long enough for SQLite's WAL-index retries, short enough that a worker thread is never
/// held for long.
const BUSY_TIMEOUT: Duration = Duration::from_millis(250);

/// At most this many connections are kept between reads. Reads never await while they hold
/// one, so no more are in use at once than there are threads calling the store.
const MAX_IDLE: usize = 16;

/// Prepared statements kept per connection: the case lookup and the few shapes of a page.
const STATEMENT_CACHE: usize = 64;

#[derive(Debug)]
pub(crate) struct DirectReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReader {
    /// Readers of the database file at `path`, opened when first needed.
    pub(crate) fn new(path: &Path) -> Self {
        DirectReader {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        // NO_MUTEX: a connection is used by one thread at a time (it is taken out of `idle`).
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one) and puts the connection back.
    fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }

    /// The row `sql` selects with `params`, if any, decoded.
    fn optional_row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl FnOnce(&rusqlite::Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.with_connection(|conn| {
            let mut statement = conn.prepare_cached(sql).map_err(error)?;
            let mut rows = statement.query(params).map_err(error)?;
            match rows.next().map_err(error)? {
                Some(row) => decode(row).map(Some),
                None => Ok(None),
            }
        })
    }

    /// Every row `sql` selects with `params`, in its order, decoded.
    fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.with_connection(|conn| {
            let mut statement = conn.prepare_cached(sql).map_err(error)?;
            let mut rows = statement.query(params).map_err(error)?;
            let mut decoded = Vec::new();
            while let Some(row) = rows.next().map_err(error)? {
                decoded.push(decode(row)?);
            }
            Ok(decoded)
        })
    }

    /// Every case `sql` selects with `params`, in its order.
    fn case_rows(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Case>, StoreError> {
        self.rows(sql, params, |row| sql::decode_case(row))
    }

    pub(crate) fn case(&self, tenant: &TenantId, id: &CaseId) -> Result<Option<Case>, StoreError> {
        self.optional_row(sql::SELECT_CASE, (tenant.as_str(), id.as_str()), |row| {
            sql::decode_case(row)
        })
    }

    /// GetCase's read (crate::case_view).
    pub(crate) fn case_read(
        &self,
        tenant: &TenantId,
        id: &CaseId,
    ) -> Result<Option<CaseRead>, StoreError> {
        self.optional_row(
            sql::SELECT_CASE_VIEW,
            (tenant.as_str(), id.as_str()),
            |row| sql::decode_case_read(row),
        )
    }

    /// Every ingest asks this before it writes.
    pub(crate) fn case_by_platform_id(
        &self,
        tenant: &TenantId,
        platform: &PlatformCode,
        platform_case_id: &PlatformCaseId,
    ) -> Result<Option<Case>, StoreError> {
        self.optional_row(
            sql::SELECT_CASE_BY_PLATFORM_ID,
            (
                tenant.as_str(),
                platform.as_str(),
                platform_case_id.as_str(),
            ),
            |row| sql::decode_case(row),
        )
    }

    /// Every write that carries a request id asks this before it writes.
    pub(crate) fn idempotent_response(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.optional_row(
            sql::SELECT_IDEMPOTENCY,
            (tenant.as_str(), request_id),
            |row| sql::decode_idempotency(row, tenant),
        )
    }

    /// The cases on one order (a platform task's ingest reads them, TB-29).
    pub(crate) fn cases_on_order(
        &self,
        tenant: &TenantId,
        order: &OrderRef,
    ) -> Result<Vec<Case>, StoreError> {
        self.case_rows(
            sql::SELECT_CASES_ON_ORDER,
            (
                tenant.as_str(),
                order.platform.as_str(),
                order.shop.as_str(),
                order.order_id.as_str(),
            ),
        )
    }

    /// The cases a query built by [`sql::case_list_query`] selects, in its order.
    pub(crate) fn cases(&self, query: &Statement<'_>) -> Result<Vec<Case>, StoreError> {
        // The placeholders appear in order ($1, $2, …), so position binds them.
        self.case_rows(query.sql(), rusqlite::params_from_iter(query.values()))
    }

    /// ListCases' page (crate::case_view): a query built by [`sql::case_read_page_query`].
    pub(crate) fn case_reads(&self, query: &Statement<'_>) -> Result<Vec<CaseRead>, StoreError> {
        let params = rusqlite::params_from_iter(query.values());
        self.rows(query.sql(), params, |row| sql::decode_case_read(row))
    }
}

impl SqlRow for rusqlite::Row<'_> {
    fn int(&self, col: &str) -> Result<i64, String> {
        self.get(col).map_err(|e| e.to_string())
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, String> {
        self.get(col).map_err(|e| e.to_string())
    }
    fn text(&self, col: &str) -> Result<String, String> {
        self.get(col).map_err(|e| e.to_string())
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, String> {
        self.get(col).map_err(|e| e.to_string())
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, String> {
        self.get(col).map_err(|e| e.to_string())
    }
}

/// Busy, locked and cannot-open are worth a retry, as on the sqlx path; anything else is
/// the database's error.
pub(crate) fn error(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, _)
            if crate::sqlite::unavailable(failure.extended_code) =>
        {
            StoreError::Unavailable(err.to_string())
        }
        _ => StoreError::Database(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::error;
    use crate::StoreError;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    /// A read refused by a lock is worth a retry (UNAVAILABLE), as on the sqlx path; a broken
    /// database or query is not.
    #[test]
    fn busy_locked_and_cannot_open_are_unavailable() {
        for code in [
            ffi::SQLITE_BUSY,
            ffi::SQLITE_BUSY_RECOVERY,
            ffi::SQLITE_LOCKED,
            ffi::SQLITE_CANTOPEN,
        ] {
            assert!(
                matches!(error(failure(code)), StoreError::Unavailable(_)),
                "{code}"
            );
        }
        for code in [ffi::SQLITE_CORRUPT, ffi::SQLITE_ERROR, ffi::SQLITE_NOTADB] {
            assert!(
                matches!(error(failure(code)), StoreError::Database(_)),
                "{code}"
            );
        }
        assert!(matches!(
            error(rusqlite::Error::InvalidColumnName("body".into())),
            StoreError::Database(_)
        ));
    }

    /// The busy path for real: another process holds the database file exclusively (a
    /// connection in exclusive locking mode keeps its lock after its write commits), so the
    /// reader waits out its busy timeout and answers UNAVAILABLE rather than hanging or
    /// calling the database broken; once the lock is gone, the same reader reads.
    #[test]
    fn a_read_behind_an_exclusive_lock_is_unavailable_then_recovers() {
        use super::DirectReader;
        use aftersales_domain::{CaseId, TenantId};
        let dir = std::env::temp_dir().join(format!(
            "aftersales-direct-reader-busy-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("busy.db");
        let _ = std::fs::remove_file(&path);
        let setup = rusqlite::Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; \
                 CREATE TABLE cases (tenant_id TEXT, id TEXT, body TEXT, \
                                     PRIMARY KEY (tenant_id, id));",
            )
            .unwrap();
        drop(setup);

        // Taken before the reader opens a connection: in WAL mode an open reader connection
        // would itself keep the holder from locking the file.
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE; \
                 BEGIN EXCLUSIVE; INSERT INTO cases VALUES ('t', 'other', '{}'); COMMIT;",
            )
            .unwrap();
        let reader = DirectReader::new(&path);
        let (tenant, id) = (TenantId::parse("t").unwrap(), CaseId::parse("c").unwrap());
        let err = reader.case(&tenant, &id).unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

        drop(holder);
        assert_eq!(reader.case(&tenant, &id).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
