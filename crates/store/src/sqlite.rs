//! SQLite: the embedded default. One file, WAL, one writer connection and a few readers.

use crate::sql;
use crate::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: u32 = 4;

/// SQLite allows one writer at a time anyway, and sqlx's driver pays a thread hop per
/// statement, so all writes share one connection (no lock contention between our own
/// writers) and reads get their own small pool that WAL lets run beside the writer.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
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
        };
        // The writer is never recycled: for an in-memory database closing the last
        // connection would drop the data, and for a file there is no reason to reconnect.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(writer_options)
            .await
            .map_err(Self::error)?;

        let reader = if in_memory {
            // Separate connections to an in-memory database would each see an empty one.
            writer.clone()
        } else {
            // WAL is a property of the file, already set by the writer; readers only read.
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .acquire_timeout(BUSY_TIMEOUT)
                .connect_lazy_with(options.read_only(true))
        };

        let store = SqliteStore { writer, reader };
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

    /// Close both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn error(err: sqlx::Error) -> StoreError {
        sql::classify(err, unavailable_code)
    }
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
    code.parse::<i32>()
        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 14))
}

sql::impl_store!(SqliteStore, sqlx::Sqlite, "sqlite", "sqlite");
