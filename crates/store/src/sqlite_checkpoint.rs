//! WAL checkpoints on a thread of their own, so the case writer never waits for one.
//!
//! Why: SQLite checkpoints on the committing connection by default — every ~1,000 WAL pages
//! the commit that crossed the line also copies the WAL into the database file and fsyncs
//! it. Traced under the realistic load (docs/benchmarks.md) those fsyncs took 13–20 ms, on the
//! one writer, and every case write queued behind them: they were the tail of the write
//! latency. A checkpoint run from another connection in PASSIVE mode takes no lock the writer
//! needs; the writer keeps appending to the WAL, and SQLite restarts the WAL from its start
//! once a checkpoint has copied all of it.
//!
//! The writer's own automatic checkpoint stays on, raised to [`WRITER_BACKSTOP_PAGES`]: if this
//! thread cannot keep up (or dies), the WAL still stops growing there.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How often the checkpointer looks at the WAL. Each pass copies what the writer appended
/// since the last: ~100 ms of writes.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// `wal_autocheckpoint` of the writer connection (pages of 4 KiB: 64 MiB): far above what
/// accrues between two passes of the checkpointer.
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 16_384;

/// What a PASSIVE checkpoint waits for a lock another checkpoint holds; the writer never
/// holds one.
const BUSY_TIMEOUT: Duration = Duration::from_millis(100);

/// Stops the checkpointer thread when the last clone of the store is dropped or the store is
/// closed.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts checkpointing the WAL of the database file at `path`.
    pub(crate) fn start(path: &Path) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let path: PathBuf = path.to_path_buf();
        let stopped = stop.clone();
        thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&path, &stopped))?;
        Ok(Checkpointer { stop })
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(path: &Path, stop: &AtomicBool) {
    let mut conn: Option<Connection> = None;
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(CHECKPOINT_EVERY);
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let outcome = match &conn {
            Some(c) => checkpoint(c),
            None => open(path).and_then(|c| {
                let result = checkpoint(&c);
                conn = Some(c);
                result
            }),
        };
        // Say it once when it starts failing and once when it recovers, not ten times a
        // second: the writer's backstop keeps the WAL bounded meanwhile.
        match outcome {
            Ok(()) if failing => {
                failing = false;
                tracing::info!(db = %path.display(), "WAL checkpoints work again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                conn = None;
                tracing::warn!(db = %path.display(), error = %e,
                    "WAL checkpoint failed; the writer checkpoints on its own until this recovers");
            }
            Err(_) => conn = None,
        }
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// One PASSIVE checkpoint: copies what it can without waiting for readers or the writer.
/// SQLITE_BUSY (another checkpoint runs, e.g. the writer's backstop) is not a failure.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            Ok(())
        }
        other => other,
    }
}
