//! PostgreSQL connections for reads, kept apart from sqlx's pool.
//!
//! Why: sqlx 0.8's pool pings every connection it gets back (`PoolConnection::return_to_pool`
//! sends a Sync and waits for the server's answer), which cannot be turned off. A read is one
//! round trip to the server; the ping made it two, and woke the server's backend twice per
//! call. Profiling GetCase (docs/benchmarks.md) put 12 % of the service's CPU in that ping,
//! and the backend's share of the machine doubled with it.
//!
//! The ping is sqlx's guard against a connection left mid-conversation by a cancelled call.
//! Here a connection goes back to the idle list only when its statement ran to an answer
//! ([`ReadConnection::settle`]); one dropped mid-call (a cancelled RPC) or broken (an I/O
//! error) is closed instead. Any rows the server still had to send for a settled statement
//! are drained by sqlx at the start of the next one. Writes keep the pool: they run in
//! transactions, which a dropped call must roll back.
//!
//! Liveness as in the pool (see `PING_IF_IDLE_FOR` in `postgres.rs`): a connection idle for
//! more than a second is pinged before it is handed out, and one idle for ten minutes is
//! closed. Reads get half the store's connections (`postgres::split_connections`); a read
//! finding all of them busy waits for one, up to the acquire timeout.

use crate::postgres::PING_IF_IDLE_FOR;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// As sqlx's pool default: idle connections beyond this age are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

struct Idle {
    connection: PgConnection,
    since: Instant,
}

pub(crate) struct ReadConnections {
    options: PgConnectOptions,
    acquire_timeout: Duration,
    /// Most recently used last: reads take the warmest connection and the rest age out.
    idle: Mutex<Vec<Idle>>,
    /// One permit per connection open (idle or in use); closed when the store closes.
    open: Semaphore,
}

impl std::fmt::Debug for ReadConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadConnections")
            .field("idle", &self.idle_count())
            .field("free_slots", &self.open.available_permits())
            .finish()
    }
}

impl ReadConnections {
    pub(crate) fn new(
        options: PgConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Self {
        ReadConnections {
            options,
            acquire_timeout,
            idle: Mutex::new(Vec::new()),
            open: Semaphore::new(max_connections.max(1) as usize),
        }
    }

    fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A live connection: an idle one (pinged first if it idled long), else a new one.
    /// Waits at most the acquire timeout for a free slot, then fails as the pool would.
    pub(crate) async fn acquire(&self) -> Result<ReadConnection<'_>, sqlx::Error> {
        let permit = match tokio::time::timeout(self.acquire_timeout, self.open.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(sqlx::Error::PoolClosed),
            Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut),
        };
        loop {
            let idle = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                // The oldest sit at the front; drop those past the idle timeout.
                let stale = idle
                    .iter()
                    .take_while(|i| i.since.elapsed() > IDLE_TIMEOUT)
                    .count();
                idle.drain(..stale);
                idle.pop()
            };
            let Some(Idle {
                mut connection,
                since,
            }) = idle
            else {
                break;
            };
            if since.elapsed() <= PING_IF_IDLE_FOR || connection.ping().await.is_ok() {
                return Ok(ReadConnection::new(self, connection, permit));
            }
            // Died while idle (server restart, a terminated session): try the next.
        }
        let connection = match tokio::time::timeout(
            self.acquire_timeout,
            PgConnection::connect_with(&self.options),
        )
        .await
        {
            Ok(connection) => connection?,
            Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut),
        };
        Ok(ReadConnection::new(self, connection, permit))
    }

    /// Refuse new reads and close the idle connections; one in use is closed when its read
    /// ends.
    pub(crate) fn close(&self) {
        self.open.close();
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A connection lent for one read. Returned to the idle list only once [`settle`]d with a
/// result that leaves it usable; dropped otherwise.
///
/// [`settle`]: ReadConnection::settle
pub(crate) struct ReadConnection<'a> {
    connection: Option<PgConnection>,
    owner: &'a ReadConnections,
    _permit: SemaphorePermit<'a>,
    reusable: bool,
}

impl<'a> ReadConnection<'a> {
    fn new(
        owner: &'a ReadConnections,
        connection: PgConnection,
        permit: SemaphorePermit<'a>,
    ) -> Self {
        ReadConnection {
            connection: Some(connection),
            owner,
            _permit: permit,
            reusable: false,
        }
    }

    /// Pass a statement's result through, noting whether the connection can serve again:
    /// after an answer or an error the server sent (it then waits for the next statement),
    /// yes; after an I/O, TLS or protocol failure, no.
    pub(crate) fn settle<T>(mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        self.reusable = match &result {
            Ok(_) => true,
            Err(e) => reusable_after(e),
        };
        result
    }
}

fn reusable_after(error: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    matches!(
        error,
        E::Database(_)
            | E::RowNotFound
            | E::ColumnDecode { .. }
            | E::ColumnNotFound(_)
            | E::ColumnIndexOutOfBounds { .. }
            | E::TypeNotFound { .. }
            | E::Decode(_)
    )
}

impl std::ops::Deref for ReadConnection<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.connection.as_ref().expect("held until drop")
    }
}

impl std::ops::DerefMut for ReadConnection<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.connection.as_mut().expect("held until drop")
    }
}

impl Drop for ReadConnection<'_> {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        if self.reusable && !self.owner.open.is_closed() {
            self.owner
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Idle {
                    connection,
                    since: Instant::now(),
                });
        }
        // Otherwise dropping it closes the socket; the server ends the session.
    }
}
