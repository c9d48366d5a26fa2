//! Reads of one case on PostgreSQL — by id, or by its platform's id — grouped: concurrent
//! lookups share one statement.
//!
//! Why: a round trip costs a PostgreSQL backend about 100 µs of CPU besides the statement
//! (waking the process, reading and answering the protocol messages), against ~20 µs for the
//! primary-key SELECT itself (docs/benchmarks.md, "where a PostgreSQL case write spends its
//! time"). GetCase is one such round trip, every action reads its case first, and every
//! ingest looks its case up by the platform's id before it writes; so under load the database
//! spent most of its share of the machine receiving and answering messages. Grouped, the
//! lookups that arrive together pay one round trip between them, whichever kind they are.
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
use aftersales_domain::{CaseId, PlatformCaseId, PlatformCode, TenantId};
use sqlx::Row;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::oneshot;
use tracing::Instrument;

/// Keys per statement at most: a statement carries the lookups that queued during the one
/// before, so this binds only under a burst; arrays of it are nothing to bind.
pub(crate) const MAX_KEYS: usize = 128;

/// One statement for every batch size and mixture (one prepared statement, one plan): the
/// ids as two parallel arrays joined to `cases` through its primary key, and the platforms'
/// ids as three joined through the unique index on them (an empty pair of arrays costs
/// nothing). A case asked for both ways comes back twice, which is harmless: each row
/// answers the lookups whose key it matches.
pub const SELECT_CASES_BY_KEYS: &str = "SELECT c.tenant_id, c.id, c.platform, \
     c.platform_case_id, c.body \
     FROM unnest($1::text[], $2::text[]) AS k(tenant_id, id) \
     JOIN cases c ON c.tenant_id = k.tenant_id AND c.id = k.id \
     UNION ALL \
     SELECT c.tenant_id, c.id, c.platform, c.platform_case_id, c.body \
     FROM unnest($3::text[], $4::text[], $5::text[]) AS k(tenant_id, platform, platform_case_id) \
     JOIN cases c ON c.tenant_id = k.tenant_id AND c.platform = k.platform \
     AND c.platform_case_id = k.platform_case_id";

/// What a lookup asks for: a case by its id, or by its platform's id (what an ingest reads
/// before it writes).
#[derive(Debug, Clone, Copy)]
pub(crate) enum CaseKey<'a> {
    Id(&'a TenantId, &'a CaseId),
    PlatformId(&'a TenantId, &'a PlatformCode, &'a PlatformCaseId),
}

/// A [`CaseKey`] as a queued lookup keeps it.
#[derive(Debug)]
enum OwnedKey {
    Id(TenantId, CaseId),
    PlatformId(TenantId, PlatformCode, PlatformCaseId),
}

impl OwnedKey {
    fn of(key: CaseKey<'_>) -> Self {
        match key {
            CaseKey::Id(t, id) => OwnedKey::Id(t.clone(), id.clone()),
            CaseKey::PlatformId(t, p, pid) => {
                OwnedKey::PlatformId(t.clone(), p.clone(), pid.clone())
            }
        }
    }

    fn borrow(&self) -> CaseKey<'_> {
        match self {
            OwnedKey::Id(t, id) => CaseKey::Id(t, id),
            OwnedKey::PlatformId(t, p, pid) => CaseKey::PlatformId(t, p, pid),
        }
    }
}

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

/// A grouped statement's rows, by each kind of key.
#[derive(Default)]
struct Rows {
    by_id: HashMap<(String, String), Arc<CaseRow>>,
    by_platform_id: HashMap<(String, String, String), Arc<CaseRow>>,
}

impl Rows {
    fn find(&self, key: CaseKey<'_>) -> Option<Arc<CaseRow>> {
        // Owned strings to look up by: a few short copies, against a round trip.
        match key {
            CaseKey::Id(t, id) => self.by_id.get(&(t.to_string(), id.to_string())),
            CaseKey::PlatformId(t, p, pid) => {
                self.by_platform_id
                    .get(&(t.to_string(), p.to_string(), pid.to_string()))
            }
        }
        .cloned()
    }
}

/// What a statement found: the one row of a lone lookup, or a grouped statement's rows.
enum Found {
    Lone(Option<Arc<CaseRow>>),
    Grouped(Rows),
}

/// A queued lookup.
struct Lookup {
    key: OwnedKey,
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

    /// The row of the case `key` names, if there is one, read in one statement with whatever
    /// other lookups are queued.
    pub(crate) async fn case(&self, key: CaseKey<'_>) -> Answer {
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
                    key: OwnedKey::of(key),
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
        let rows = read(&shared.connections, key, &carried.lookups)
            .instrument(span)
            .await;
        let counters = &shared.counters;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.lookups.fetch_add(keys as u64, Ordering::Relaxed);
        counters
            .largest_batch
            .fetch_max(keys as u64, Ordering::Relaxed);
        let mine = answer(std::mem::take(&mut carried.lookups), rows, key);
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

/// What the statement finds for the caller's own key and those it took along.
async fn read(
    connections: &ReadConnections,
    own: CaseKey<'_>,
    carried: &[Lookup],
) -> Result<Found, StoreError> {
    let error = crate::postgres::classify;
    if carried.is_empty() {
        // Alone (light load), the plain SELECT: the primary-key one executes in half the time
        // of the join with one key (0.018 against 0.042 ms, EXPLAIN ANALYZE on 100,000
        // cases), and a lone lookup allocates no arrays.
        let statement = match own {
            CaseKey::Id(t, id) => sqlx::query(crate::sql::SELECT_CASE)
                .bind(t.as_str())
                .bind(id.as_str()),
            CaseKey::PlatformId(t, p, pid) => sqlx::query(crate::sql::SELECT_CASE_BY_PLATFORM_ID)
                .bind(t.as_str())
                .bind(p.as_str())
                .bind(pid.as_str()),
        };
        let mut connection = connections.acquire().await.map_err(error)?;
        let result = statement.fetch_optional(&mut *connection).await;
        let row = connection.settle(result).map_err(error)?;
        return match row {
            Some(row) => Ok(Found::Lone(Some(Arc::new(CaseRow {
                tenant_id: column(&row, "tenant_id")?,
                id: column(&row, "id")?,
                body: column(&row, "body")?,
            })))),
            None => Ok(Found::Lone(None)),
        };
    }
    let mut ids: (Vec<&str>, Vec<&str>) = Default::default();
    let mut platform_ids: (Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
    for key in std::iter::once(own).chain(carried.iter().map(|l| l.key.borrow())) {
        match key {
            CaseKey::Id(t, id) => {
                ids.0.push(t.as_str());
                ids.1.push(id.as_str());
            }
            CaseKey::PlatformId(t, p, pid) => {
                platform_ids.0.push(t.as_str());
                platform_ids.1.push(p.as_str());
                platform_ids.2.push(pid.as_str());
            }
        }
    }
    let statement = sqlx::query(SELECT_CASES_BY_KEYS)
        .bind(&ids.0)
        .bind(&ids.1)
        .bind(&platform_ids.0)
        .bind(&platform_ids.1)
        .bind(&platform_ids.2);
    let mut connection = connections.acquire().await.map_err(error)?;
    let result = statement.fetch_all(&mut *connection).await;
    let rows = connection.settle(result).map_err(error)?;
    let mut found = Rows::default();
    for row in rows {
        let case = Arc::new(CaseRow {
            tenant_id: column(&row, "tenant_id")?,
            id: column(&row, "id")?,
            body: column(&row, "body")?,
        });
        let platform: String = column(&row, "platform")?;
        // NULL for a case opened through the API (CreateCase) and not yet known to its platform:
        // nothing to be found by.
        let platform_case_id: Option<String> = row
            .try_get("platform_case_id")
            .map_err(|e| StoreError::Corrupt(format!("cases row: platform_case_id: {e}")))?;
        if let Some(pid) = platform_case_id {
            found
                .by_platform_id
                .insert((case.tenant_id.clone(), platform, pid), case.clone());
        }
        found
            .by_id
            .insert((case.tenant_id.clone(), case.id.clone()), case);
    }
    Ok(Found::Grouped(found))
}

fn column(row: &sqlx::postgres::PgRow, col: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col)
        .map_err(|e| StoreError::Corrupt(format!("cases row: {col}: {e}")))
}

/// Answers the lookups taken along and returns the caller's own.
fn answer(carried: Vec<Lookup>, found: Result<Found, StoreError>, own: CaseKey<'_>) -> Answer {
    match found {
        Ok(Found::Lone(row)) => Ok(row),
        Ok(Found::Grouped(rows)) => {
            for l in carried {
                let _ = l.reply.send(Turn::Answer(Ok(rows.find(l.key.borrow()))));
            }
            Ok(rows.find(own))
        }
        Err(error) => {
            for l in carried {
                let _ = l.reply.send(Turn::Answer(Err(error.clone())));
            }
            Err(error)
        }
    }
}
