//! Reads of one case by id on PostgreSQL, grouped: concurrent lookups share one statement.
//!
//! Why: a round trip costs a PostgreSQL backend about 100 µs of CPU besides the statement
//! (waking the process, reading and answering the protocol messages), against ~20 µs for the
//! primary-key SELECT itself (docs/benchmarks.md, "where a PostgreSQL case write spends its
//! time"). GetCase is one such round trip, so under load the database spent most of its
//! share of the machine receiving and answering messages. Grouped, the lookups that arrive
//! together pay one round trip between them.
//!
//! How (flat combining, no task of its own): up to `max_batches` statements are in flight at
//! once. A lookup that finds fewer runs a statement itself, on its own task, for its key and
//! every key queued when it starts (up to [`MAX_KEYS`]); one that finds them all busy queues
//! its key and waits. A caller whose statement is done answers the keys it took along and,
//! if more are queued, hands its turn to the first of them, who runs the next statement for
//! what is queued then. At light load every lookup is its own statement, with no hop to
//! another task on the way; under load a statement carries what queued during the one
//! before. A first version had reader tasks take the keys: GetCase alone ran 1.7–1.9×
//! faster, but in the realistic mix a lookup then waited for a reader task to be scheduled
//! behind the runtime's other work (a page of 50 cases to decode), and its median at half
//! load rose from 1.9 to 2.7–3.6 ms (docs/benchmarks.md).
//!
//! A queued lookup whose caller stopped waiting is skipped. A caller that stops waiting while
//! its statement runs puts the keys it took back at the head of the queue and hands its turn
//! on, so no one waits for an answer that will not come. A failed statement fails every
//! lookup it carried, with the error the caller would have had alone.

use crate::postgres_read::ReadConnections;
use crate::sql::SqlRow;
use crate::StoreError;
use aftersales_domain::{CaseId, TenantId};
use sqlx::Row;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::oneshot;
use tracing::Instrument;

/// Keys per statement at most: a statement carries the lookups that queued during the one
/// before, so this binds only under a burst; two arrays of it are nothing to bind.
pub(crate) const MAX_KEYS: usize = 128;

/// One statement for every batch size (one prepared statement, one plan): the keys as two
/// parallel arrays, each joined to `cases` through its primary key.
pub const SELECT_CASES_BY_KEYS: &str = "SELECT c.tenant_id, c.id, c.body \
     FROM unnest($1::text[], $2::text[]) AS k(tenant_id, id) \
     JOIN cases c ON c.tenant_id = k.tenant_id AND c.id = k.id";

/// A case row as read, decoded by the caller that asked for it.
#[derive(Debug)]
pub(crate) struct CaseRow {
    tenant_id: String,
    id: String,
    body: String,
}

impl SqlRow for CaseRow {
    fn int(&self, col: &str) -> Result<i64, String> {
        Err(format!("no integer column {col} in a case row"))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, String> {
        self.int(col).map(Some)
    }
    fn text(&self, col: &str) -> Result<String, String> {
        match col {
            "tenant_id" => Ok(self.tenant_id.clone()),
            "id" => Ok(self.id.clone()),
            "body" => Ok(self.body.clone()),
            _ => Err(format!("no column {col} in a case row")),
        }
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, String> {
        self.text(col).map(Some)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, String> {
        Err(format!("no bytes column {col} in a case row"))
    }
}

/// Shared: a key asked for twice in one statement gets the one row twice.
type Answer = Result<Option<Arc<CaseRow>>, StoreError>;

type Rows = HashMap<(String, String), Arc<CaseRow>>;

/// A queued lookup.
struct Lookup {
    tenant: TenantId,
    id: CaseId,
    reply: oneshot::Sender<Turn>,
    /// The caller's `store.case` span, which the statement's span follows from.
    span: tracing::Span,
}

/// What a queued lookup is sent: its answer, or the turn to run the next statement.
enum Turn {
    Answer(Answer),
    Lead(TurnToRead),
}

/// How the grouping went, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaseReadStats {
    /// Statements run.
    pub batches: u64,
    /// Lookups answered by them.
    pub lookups: u64,
    /// The most lookups one statement answered.
    pub largest_batch: u64,
    /// Lookups queued now, waiting for a statement to take them.
    pub waiting: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    lookups: AtomicU64,
    largest_batch: AtomicU64,
}

struct Shared {
    connections: Arc<ReadConnections>,
    max_batches: usize,
    state: Mutex<State>,
    counters: Counters,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Lookup>,
    /// Statements in flight, or turns handed on and not yet taken up.
    in_flight: usize,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The turn to run a statement: one of `max_batches`. Dropped, it passes to the first queued
/// lookup whose caller still waits, or is given back, so a caller that stops waiting at any
/// point (even with the turn sent to it and not yet read) never strands the queue.
struct TurnToRead {
    shared: Arc<Shared>,
    armed: bool,
}

impl Drop for TurnToRead {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.shared.state();
        while let Some(next) = state.queue.pop_front() {
            let turn = TurnToRead {
                shared: self.shared.clone(),
                armed: true,
            };
            match next.reply.send(Turn::Lead(turn)) {
                Ok(()) => return,
                // That caller has gone; the turn came back and must not hand itself on
                // while this holds the lock.
                Err(Turn::Lead(mut turn)) => turn.armed = false,
                Err(Turn::Answer(_)) => unreachable!("a turn was sent"),
            }
        }
        state.in_flight -= 1;
    }
}

/// The lookups a running statement took along, put back at the head of the queue if its
/// caller stops waiting before they are answered.
struct Carried<'a> {
    shared: &'a Shared,
    lookups: Vec<Lookup>,
}

impl Drop for Carried<'_> {
    fn drop(&mut self) {
        if self.lookups.is_empty() {
            return;
        }
        let mut state = self.shared.state();
        for lookup in self.lookups.drain(..).rev() {
            state.queue.push_front(lookup);
        }
    }
}

/// Shared by the store and its clones.
#[derive(Clone)]
pub(crate) struct GroupedCaseReads {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GroupedCaseReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupedCaseReads")
            .field("stats", &self.stats())
            .finish()
    }
}

impl GroupedCaseReads {
    /// Lookups through `connections`, at most `max_batches` statements at once.
    pub(crate) fn new(connections: Arc<ReadConnections>, max_batches: usize) -> Self {
        GroupedCaseReads {
            shared: Arc::new(Shared {
                connections,
                max_batches: max_batches.max(1),
                state: Mutex::new(State::default()),
                counters: Counters::default(),
            }),
        }
    }

    /// The row of case `id` of `tenant`, if there is one, read in one statement with
    /// whatever other lookups are queued.
    pub(crate) async fn case(&self, tenant: &TenantId, id: &CaseId) -> Answer {
        let shared = &self.shared;
        let turn = {
            let mut state = shared.state();
            if state.in_flight < shared.max_batches {
                state.in_flight += 1;
                Ok(TurnToRead {
                    shared: shared.clone(),
                    armed: true,
                })
            } else {
                let (reply, answer) = oneshot::channel();
                state.queue.push_back(Lookup {
                    tenant: tenant.clone(),
                    id: id.clone(),
                    reply,
                    span: tracing::Span::current(),
                });
                Err(answer)
            }
        };
        let turn = match turn {
            Ok(turn) => turn,
            Err(answer) => match answer.await {
                Ok(Turn::Answer(answer)) => return answer,
                Ok(Turn::Lead(turn)) => turn,
                Err(_) => {
                    return Err(StoreError::Unavailable(
                        "a case lookup was dropped unanswered".into(),
                    ))
                }
            },
        };
        let mut carried = Carried {
            shared,
            lookups: Vec::new(),
        };
        {
            let mut state = shared.state();
            while carried.lookups.len() + 1 < MAX_KEYS {
                match state.queue.pop_front() {
                    Some(l) if l.reply.is_closed() => continue,
                    Some(l) => carried.lookups.push(l),
                    None => break,
                }
            }
        }
        let keys = carried.lookups.len() + 1;
        let span = tracing::info_span!(
            "store.case_read_batch",
            db.system = "postgresql",
            batch.size = keys,
        );
        for lookup in &carried.lookups {
            span.follows_from(&lookup.span);
        }
        let rows = read(&shared.connections, (tenant, id), &carried.lookups)
            .instrument(span)
            .await;
        let counters = &shared.counters;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.lookups.fetch_add(keys as u64, Ordering::Relaxed);
        counters
            .largest_batch
            .fetch_max(keys as u64, Ordering::Relaxed);
        let mine = answer(std::mem::take(&mut carried.lookups), rows, (tenant, id));
        // Hands the turn on (or gives it back) before this caller decodes its own row.
        drop(turn);
        mine
    }

    pub(crate) fn stats(&self) -> CaseReadStats {
        let c = &self.shared.counters;
        CaseReadStats {
            batches: c.batches.load(Ordering::Relaxed),
            lookups: c.lookups.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
            waiting: self.shared.state().queue.len() as u64,
        }
    }
}

/// The rows of the statement's cases by (tenant, id): the caller's own key and those it took
/// along.
async fn read(
    connections: &ReadConnections,
    own: (&TenantId, &CaseId),
    carried: &[Lookup],
) -> Result<Rows, StoreError> {
    // The arrays only for a join: a lone lookup (light load) allocates nothing for them.
    let (tenants, ids): (Vec<&str>, Vec<&str>) = if carried.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        std::iter::once(own)
            .chain(carried.iter().map(|l| (&l.tenant, &l.id)))
            .map(|(tenant, id)| (tenant.as_str(), id.as_str()))
            .unzip()
    };
    let error = crate::postgres::classify;
    let mut connection = connections.acquire().await.map_err(error)?;
    // Alone (light load), the plain primary-key SELECT: it executes in half the time of the
    // join with one key (0.018 against 0.042 ms, EXPLAIN ANALYZE on 100,000 cases).
    let statement = if carried.is_empty() {
        sqlx::query(crate::sql::SELECT_CASE)
            .bind(own.0.as_str())
            .bind(own.1.as_str())
    } else {
        sqlx::query(SELECT_CASES_BY_KEYS).bind(&tenants).bind(&ids)
    };
    let result = statement.fetch_all(&mut *connection).await;
    let rows = connection.settle(result).map_err(error)?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let column = |col: &str| {
            row.try_get::<String, _>(col)
                .map_err(|e| StoreError::Corrupt(format!("cases row: {col}: {e}")))
        };
        let case = CaseRow {
            tenant_id: column("tenant_id")?,
            id: column("id")?,
            body: column("body")?,
        };
        found.insert((case.tenant_id.clone(), case.id.clone()), Arc::new(case));
    }
    Ok(found)
}

/// Answers the lookups taken along and returns the caller's own.
fn answer(
    carried: Vec<Lookup>,
    rows: Result<Rows, StoreError>,
    own: (&TenantId, &CaseId),
) -> Answer {
    let find = |rows: &Rows, tenant: &TenantId, id: &CaseId| {
        rows.get(&(tenant.to_string(), id.to_string())).cloned()
    };
    match rows {
        Ok(rows) => {
            for l in carried {
                let _ = l
                    .reply
                    .send(Turn::Answer(Ok(find(&rows, &l.tenant, &l.id))));
            }
            Ok(find(&rows, own.0, own.1))
        }
        Err(error) => {
            for l in carried {
                let _ = l.reply.send(Turn::Answer(Err(error.clone())));
            }
            Err(error)
        }
    }
}
