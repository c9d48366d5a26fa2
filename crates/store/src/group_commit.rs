//! Group commit for case writes: concurrent [`CaseWrite`]s share one transaction, and each
//! is acknowledged only after that transaction has committed.
//!
//! `Store::write` sends its write over a bounded channel, with a oneshot for the answer, to
//! the writer task(s). A writer takes the first pending write, drains whatever else is
//! already queued (after one yield to the scheduler, so callers just answered can queue
//! their next write; no timer: an idle store commits a lone write at once), up to
//! [`MAX_BATCH`], and runs them all in one transaction. SQLite has one writer (one
//! connection); PostgreSQL several, each with its own transaction, sharing the queue.
//!
//! The semantics are those of running the batch's writes one after another, in (tenant,
//! case id, new case first) order, each in its own transaction:
//! - a write that fails (version conflict, duplicate request, duplicate platform case, a
//!   missing case…) gets its error and nothing of it commits; the others go on. A version
//!   conflict leaves nothing behind and the batch continues in the same transaction; any
//!   other failure rolls the transaction back and the batch runs again without that write
//!   (nothing had committed, so running it again is running it once), writes skipped in the
//!   rolled-back attempt included: their conflict may have been with a write that is now
//!   gone. Every answer, failures included, is sent once the batch has committed: a caller
//!   refused because of another write of the batch then finds that write when it reads;
//! - copies of one request (the same request id) in a batch: the first runs, the others get
//!   DuplicateRequest once it has committed, or run in the writer's next batch if it failed;
//! - two writes of one case in a batch behave as if serialized: the second sees the first's
//!   version;
//! - per-tenant event seqs stay gap-free and in commit order (one counter bump per tenant
//!   per batch, in tenant order; the counter row stays locked until commit);
//! - if the database is unavailable or COMMIT fails, every write of the batch gets the error
//!   (and, when unavailable, so does every write queued behind it, rather than waiting out
//!   the same timeout again); a deadlock between two PostgreSQL writers reruns the batch.
//!
//! Cancellation: a caller that stops waiting (its future dropped) before its batch is sent
//! COMMIT is left out: its write is skipped, or the batch is rolled back and run again
//! without it. One that stops waiting after COMMIT was sent may have committed, as before
//! group commit.
//!
//! A batch runs in few statements: the idempotency records of all its writes in one
//! multi-row INSERT, its new cases in another, its updates one by one (each sees the writes
//! before it; a version conflict is known by its row count), then the deadline rows, one
//! counter bump per tenant and the events of all of them. A failing multi-row statement is
//! someone's, but not knowably whose: the batch then runs again write by write
//! ([`BatchWriter::write_one`], the statements a write ran on its own before group commit),
//! where every failure is one write's.

use crate::{CaseWrite, StoreError, StoredEvent, WriteStats};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::Instrument;

/// Writes per transaction at most.
pub const MAX_BATCH: usize = 128;
/// Writes waiting for a writer at most; beyond, `write` waits for room (backpressure).
const QUEUE: usize = 4 * MAX_BATCH;
/// Reruns of a batch after a deadlock or serialization failure before giving up.
const MAX_RETRIES: u32 = 5;

/// How one statement of a batch failed, which decides who gets the error.
#[derive(Debug)]
pub(crate) enum Fail {
    /// This write failed and left nothing behind (a version conflict): the batch goes on in
    /// the same transaction.
    Skip(StoreError),
    /// This write failed; the transaction must be rolled back and the batch run without it.
    Write(StoreError),
    /// The transaction cannot go on (connection lost, database unavailable): every write of
    /// the batch gets the error.
    Batch(StoreError),
    /// A deadlock or serialization failure: nobody's fault, run the batch again.
    Retry(StoreError),
}

/// One backend's statements, run in one transaction by the group commit.
#[async_trait::async_trait]
pub(crate) trait BatchWriter: Send + Sync + 'static {
    type Tx: Send;
    /// `db.system` for the batch span.
    const SYSTEM: &'static str;

    async fn begin(&self) -> Result<Self::Tx, Fail>;
    async fn commit(&self, tx: Self::Tx) -> Result<(), Fail>;
    /// Best effort: a failed rollback means the connection is gone, which ends the
    /// transaction too.
    async fn rollback(&self, tx: Self::Tx);

    /// The idempotency records and case rows of the batch, in as few statements as possible
    /// (new cases and idempotency records together, updates one by one, after the inserts):
    /// per write, None or the error it was skipped with. The index of the failing write, if
    /// a failure is one write's.
    async fn write_heads(
        &self,
        tx: &mut Self::Tx,
        writes: &[&CaseWrite],
    ) -> Result<Vec<Option<StoreError>>, (Option<usize>, Fail)>;
    /// The deadline rows, counters and events of writes whose heads succeeded, in batch
    /// order, in as few statements as possible. An error here belongs to no single write.
    async fn write_tails(
        &self,
        tx: &mut Self::Tx,
        writes: &[&CaseWrite],
    ) -> Result<Vec<Vec<StoredEvent>>, Fail>;
    /// The whole of one write, statement by statement.
    async fn write_one(
        &self,
        tx: &mut Self::Tx,
        write: &CaseWrite,
    ) -> Result<Vec<StoredEvent>, Fail>;
}

type Answer = Result<Vec<StoredEvent>, StoreError>;

/// What the writer sends back: the answer and which batch it committed in (for the span).
struct Reply {
    result: Answer,
    batch: u64,
    batch_size: usize,
}

struct Pending {
    write: CaseWrite,
    reply: oneshot::Sender<Reply>,
    /// The caller's `store.write` span, which the batch span follows from.
    span: tracing::Span,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    writes: AtomicU64,
    largest_batch: AtomicU64,
    transactions: AtomicU64,
    abandoned: AtomicU64,
    pending: AtomicU64,
}

/// Counts a write as pending until its caller has its answer or stops waiting.
struct PendingGuard<'a>(&'a AtomicU64);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Shared {
    queue: Mutex<mpsc::Receiver<Pending>>,
    counters: Arc<Counters>,
    next_batch: AtomicU64,
}

/// The sending side, held by the store (and its clones). When the last one is dropped the
/// writer tasks finish the batch in hand and end.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Pending>,
    counters: Arc<Counters>,
    writers: usize,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("stats", &self.stats())
            .finish()
    }
}

impl GroupCommit {
    /// Spawn `writers` writer tasks (at least one) on the current Tokio runtime.
    pub(crate) fn start<W: BatchWriter>(writer: W, writers: usize) -> Self {
        let writers = writers.max(1);
        let (group, shared) = Self::new(writers);
        let writer = Arc::new(writer);
        for _ in 0..writers {
            tokio::spawn(run(writer.clone(), shared.clone()));
        }
        group
    }

    /// Run one writer task on a thread of its own, named `name`, for a writer whose
    /// statements block (see [`crate::sqlite_write`]): it may then block that thread, never
    /// one of the runtime's workers. The thread ends with the writer task.
    pub(crate) fn start_on_thread<W: BatchWriter>(writer: W, name: &str) -> std::io::Result<Self> {
        let (group, shared) = Self::new(1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || runtime.block_on(run(Arc::new(writer), shared)))?;
        Ok(group)
    }

    fn new(writers: usize) -> (Self, Arc<Shared>) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            queue: Mutex::new(receiver),
            counters: counters.clone(),
            next_batch: AtomicU64::new(1),
        });
        let group = GroupCommit {
            queue,
            counters,
            writers,
        };
        (group, shared)
    }

    /// Queue `write` and wait until its batch has committed (or it failed).
    pub(crate) async fn write(&self, write: CaseWrite) -> Answer {
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        self.counters.pending.fetch_add(1, Ordering::Relaxed);
        let _pending = PendingGuard(&self.counters.pending);
        self.queue
            .send(Pending {
                write,
                reply,
                span: span.clone(),
            })
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        let reply = answer.await.map_err(|_| {
            StoreError::Unavailable("the store's writer stopped before answering".into())
        })?;
        span.record("batch", reply.batch);
        span.record("batch_size", reply.batch_size);
        reply.result
    }

    pub(crate) fn stats(&self) -> WriteStats {
        let c = &self.counters;
        WriteStats {
            batches: c.batches.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
            pending: c.pending.load(Ordering::Relaxed),
            writers: self.writers as u64,
        }
    }
}

async fn run<W: BatchWriter>(writer: Arc<W>, shared: Arc<Shared>) {
    // Writes set aside by the last batch (a repeated request id), first in the next.
    let mut carried = Vec::new();
    loop {
        let batch = {
            let mut queue = shared.queue.lock().await;
            let mut batch: Vec<Pending> = std::mem::take(&mut carried);
            if batch.is_empty() {
                let Some(first) = queue.recv().await else {
                    return;
                };
                batch.push(first);
            }
            // The callers the last batch answered are about to send their next writes: let
            // them run first (one yield, no timer), or the few writes that came in during
            // that batch take the next transaction alone and the rest wait for it.
            tokio::task::yield_now().await;
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            batch
        };
        let id = shared.next_batch.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!(
            "store.write_batch",
            db.system = W::SYSTEM,
            batch = id,
            batch.size = batch.len(),
            committed = tracing::field::Empty,
            transactions = tracing::field::Empty,
        );
        for p in &batch {
            span.follows_from(&p.span);
        }
        carried = run_batch(&*writer, batch, id, &shared)
            .instrument(span)
            .await;
    }
}

/// Where an attempt stopped: the failing write's index in the batch, if it is one write's.
struct Stop {
    at: Option<usize>,
    fail: Fail,
}

/// The (tenant, request id) of a write that carries one.
fn request_key(w: &CaseWrite) -> Option<(String, String)> {
    let idem = w.idempotency.as_ref()?;
    Some((w.case.tenant.to_string(), idem.request_id.clone()))
}

/// Run one batch to its end and answer its writes; returns the writes set aside for the
/// next batch.
///
/// Every answer waits for the batch's outcome, failures included: a write refused because
/// of another write of the batch (the same case, the same request id) is told so only once
/// that write has committed, so a caller that then reads (the stored answer, the new
/// version) finds it. If the batch then fails as a whole, every write gets that error.
async fn run_batch<W: BatchWriter>(
    writer: &W,
    batch: Vec<Pending>,
    id: u64,
    shared: &Shared,
) -> Vec<Pending> {
    let counters = &shared.counters;
    let mut batch = batch;
    // Lock order: case rows are locked in (tenant, case id) order by every batch, so two
    // PostgreSQL writers do not deadlock on them. New cases are inserted before any update
    // (`write_heads`), so an insert goes first among the writes of its case too; otherwise
    // stable, so writes of one case keep their order of arrival. This order is the serial
    // order the batch's outcome is consistent with.
    fn key(w: &CaseWrite) -> (&str, &str, bool) {
        (
            w.case.tenant.as_str(),
            w.case.id.as_str(),
            w.mode != crate::WriteMode::Insert,
        )
    }
    batch.sort_by(|a, b| key(&a.write).cmp(&key(&b.write)));
    // Copies of one request (a client's retries racing each other): only the first runs.
    // The others get DuplicateRequest once it has committed (or found the request stored),
    // or are run in the next batch if it failed otherwise; failing them one at a time in
    // this batch would cost a rerun each.
    let mut seen = std::collections::HashSet::new();
    let (mut batch, mut copies): (Vec<Pending>, Vec<Pending>) = batch
        .into_iter()
        .partition(|p| request_key(&p.write).is_none_or(|k| seen.insert(k)));

    // The batch's size as formed, for the callers' spans.
    let size = batch.len() + copies.len();
    let mut one_by_one = false;
    let mut retries = 0;
    let mut transactions = 0u64;
    // Writes that failed alone, answered with the batch.
    let mut failed: Vec<(Pending, StoreError)> = Vec::new();
    // Request ids now stored: committed by this batch, or found stored by it.
    let mut stored_requests = std::collections::HashSet::new();
    let outcome: Result<(), StoreError> = loop {
        let before = batch.len();
        batch.retain(|p| !p.reply.is_closed());
        counters
            .abandoned
            .fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
        if batch.is_empty() {
            break Ok(());
        }
        transactions += 1;
        counters.transactions.fetch_add(1, Ordering::Relaxed);
        let mut tx = match writer.begin().await {
            Ok(tx) => tx,
            Err(fail) => break Err(fail_error(fail)),
        };
        let mut answers: Vec<Option<Answer>> = (0..batch.len()).map(|_| None).collect();
        let attempt = if one_by_one {
            attempt_one_by_one(writer, &mut tx, &batch, &mut answers).await
        } else {
            attempt_batched(writer, &mut tx, &batch, &mut answers).await
        };
        match attempt {
            Ok(()) if batch.iter().any(|p| p.reply.is_closed()) => {
                // A caller stopped waiting: it must not commit unseen. Again without it (the
                // next pass drops it); everyone else runs again, skips included.
                writer.rollback(tx).await;
            }
            Ok(()) => {
                if let Err(fail) = writer.commit(tx).await {
                    // A lost connection: the writes may or may not have committed, which
                    // is what the error says.
                    break Err(fail_error(fail));
                }
                // Counted before anyone is answered, so a caller that reads the stats once
                // it has its answer sees its batch in them.
                let committed = answers.iter().filter(|a| matches!(a, Some(Ok(_)))).count() as u64;
                if committed > 0 {
                    counters.batches.fetch_add(1, Ordering::Relaxed);
                    counters.writes.fetch_add(committed, Ordering::Relaxed);
                    counters
                        .largest_batch
                        .fetch_max(committed, Ordering::Relaxed);
                }
                for (p, answer) in std::mem::take(&mut batch).into_iter().zip(answers) {
                    let answer = answer.expect("every write has an answer");
                    if answer.is_ok() {
                        stored_requests.extend(request_key(&p.write));
                    }
                    reply(p, answer, id, size);
                }
                tracing::Span::current().record("committed", committed);
                break Ok(());
            }
            Err(Stop { at, fail }) => {
                writer.rollback(tx).await;
                // Only the failing write is set aside. A write skipped in the rolled-back
                // attempt runs again: what made it conflict (an earlier write of the batch,
                // perhaps the failing one) may not commit, and its answer must describe what
                // did.
                match fail {
                    Fail::Write(error) | Fail::Skip(error) => match at {
                        Some(i) => failed.push((batch.remove(i), error)),
                        None => {
                            tracing::debug!(%error, "a batched statement failed; running the batch write by write");
                            one_by_one = true;
                        }
                    },
                    Fail::Retry(error) => {
                        retries += 1;
                        if retries > MAX_RETRIES {
                            break Err(error);
                        }
                        tracing::debug!(%error, retries, "batch rolled back; running it again");
                    }
                    Fail::Batch(error) => break Err(error),
                }
            }
        }
    };
    tracing::Span::current().record("transactions", transactions);

    match outcome {
        Ok(()) => {
            for (p, error) in failed {
                if matches!(error, StoreError::DuplicateRequest { .. }) {
                    stored_requests.extend(request_key(&p.write));
                }
                reply(p, Err(error), id, size);
            }
            let (duplicates, again): (Vec<Pending>, Vec<Pending>) = copies
                .into_iter()
                .partition(|p| request_key(&p.write).is_some_and(|k| stored_requests.contains(&k)));
            for p in duplicates {
                let request_id = p.write.idempotency.as_ref().map(|i| i.request_id.clone());
                let error = StoreError::DuplicateRequest {
                    request_id: request_id.unwrap_or_default(),
                };
                reply(p, Err(error), id, size);
            }
            again
        }
        Err(error) => {
            let everyone = batch
                .into_iter()
                .chain(failed.into_iter().map(|(p, _)| p))
                .chain(copies.drain(..));
            fail_all(everyone.collect(), error, id, shared);
            Vec::new()
        }
    }
}

fn reply(p: Pending, result: Answer, batch: u64, batch_size: usize) {
    let _ = p.reply.send(Reply {
        result,
        batch,
        batch_size,
    });
}

fn fail_error(fail: Fail) -> StoreError {
    match fail {
        Fail::Skip(e) | Fail::Write(e) | Fail::Batch(e) | Fail::Retry(e) => e,
    }
}

/// Every write of the batch gets `error`. When the database is unavailable, so does every
/// write queued right now: they would wait out the same timeout again before failing.
fn fail_all(batch: Vec<Pending>, error: StoreError, id: u64, shared: &Shared) {
    let size = batch.len();
    tracing::warn!(%error, writes = size, "batch failed");
    let mut failed = batch;
    if matches!(error, StoreError::Unavailable(_)) {
        // Only if no other writer is taking writes from the queue right now (an idle one
        // holds the lock while the queue is empty).
        if let Ok(mut queue) = shared.queue.try_lock() {
            while let Ok(p) = queue.try_recv() {
                failed.push(p);
            }
        }
    }
    for p in failed {
        let _ = p.reply.send(Reply {
            result: Err(error.clone()),
            batch: id,
            batch_size: size,
        });
    }
}

/// Every head, then every tail, each in as few statements as possible.
async fn attempt_batched<W: BatchWriter>(
    writer: &W,
    tx: &mut W::Tx,
    batch: &[Pending],
    answers: &mut [Option<Answer>],
) -> Result<(), Stop> {
    let writes: Vec<&CaseWrite> = batch.iter().map(|p| &p.write).collect();
    let heads = writer
        .write_heads(tx, &writes)
        .await
        .map_err(|(at, fail)| Stop { at, fail })?;
    let mut done = Vec::with_capacity(batch.len());
    for (i, skipped) in heads.into_iter().enumerate() {
        match skipped {
            None => done.push(i),
            Some(e) => answers[i] = Some(Err(e)),
        }
    }
    let writes: Vec<&CaseWrite> = done.iter().map(|&i| &batch[i].write).collect();
    let stored = writer
        .write_tails(tx, &writes)
        .await
        .map_err(|fail| Stop { at: None, fail })?;
    for (i, events) in done.into_iter().zip(stored) {
        answers[i] = Some(Ok(events));
    }
    Ok(())
}

/// Each write whole, one after another: every failure is one write's.
async fn attempt_one_by_one<W: BatchWriter>(
    writer: &W,
    tx: &mut W::Tx,
    batch: &[Pending],
    answers: &mut [Option<Answer>],
) -> Result<(), Stop> {
    for (i, p) in batch.iter().enumerate() {
        match writer.write_one(tx, &p.write).await {
            Ok(events) => answers[i] = Some(Ok(events)),
            Err(Fail::Skip(e)) => answers[i] = Some(Err(e)),
            Err(fail) => return Err(Stop { at: Some(i), fail }),
        }
    }
    Ok(())
}

// The batch runner against a fake backend whose statements fail as the case id says, so
// every path (skip, rerun without a write, write by write, retry, unavailable, cancellation)
// is driven deterministically. The SQL itself is tested on both databases in tests/store.rs.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriteMode;
    use aftersales_domain::event::Actor;
    use aftersales_domain::{
        BoundedText, Case, CaseDraft, CaseId, CaseKind, Fen, Fulfilment, Policy, ShopId, TenantId,
    };
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU32;
    use std::sync::Mutex as StdMutex;
    use std::time::Duration;
    use tokio::sync::Semaphore;

    const POLICY: &str = r#"
platform = "demo"
version = "demo-2026"
effective_from = "2026-01-01T00:00:00+08:00"
source = "test"
after_sales_window_days = 15
merchant_actions = ["agree"]
"#;

    fn write(id: &str) -> CaseWrite {
        let policy = Policy::parse_toml(POLICY).unwrap();
        let draft = CaseDraft {
            order_id: Some(aftersales_domain::OrderId::parse("order-1").unwrap()),
            ..CaseDraft::new(
                ShopId::parse("shop-1").unwrap(),
                aftersales_domain::PlatformCode::parse("demo").unwrap(),
                CaseKind::RefundOnly,
                Fulfilment::Received,
                Fen::new(100).unwrap(),
                BoundedText::parse("r").unwrap(),
                BoundedText::parse("b").unwrap(),
            )
        };
        let change = Case::open(
            CaseId::parse(id).unwrap(),
            TenantId::parse("acme").unwrap(),
            draft,
            &policy,
            Actor::merchant("alice"),
            chrono::Utc::now(),
            &[],
        )
        .unwrap();
        CaseWrite {
            case: change.case,
            mode: WriteMode::Insert,
            events: change.events,
            idempotency: None,
            caller: None,
        }
    }

    /// Ids: `conflict*` skips, `uses-<id>` skips when the transaction already holds write
    /// `<id>` (a version conflict with an earlier write of the batch), `dup*` fails
    /// (rollback), `tail*` fails only in its own tail (found write by write), `down*` makes
    /// the database unavailable, `deadlock*` deadlocks once, `slow*` waits for `slow` before
    /// its head. Every batch waits for a `gate` permit.
    struct Fake {
        gate: Arc<Semaphore>,
        slow: Arc<Semaphore>,
        committed: Arc<StdMutex<Vec<Vec<String>>>>,
        deadlocks: AtomicU32,
        panic_on_begin: bool,
        _alive: Arc<()>,
    }

    impl Fake {
        async fn head(&self, tx: &mut Vec<String>, w: &CaseWrite) -> Result<(), Fail> {
            let id = w.case.id.as_str();
            if id.starts_with("slow") {
                self.slow.acquire().await.unwrap().forget();
            }
            let error = StoreError::Database(id.to_string());
            match id {
                _ if id.starts_with("conflict") => Err(Fail::Skip(error)),
                _ if id
                    .strip_prefix("uses-")
                    .is_some_and(|earlier| tx.iter().any(|w| w == earlier)) =>
                {
                    Err(Fail::Skip(error))
                }
                _ if id.starts_with("dup") => Err(Fail::Write(error)),
                _ if id.starts_with("down") => Err(Fail::Batch(StoreError::Unavailable(id.into()))),
                _ if id.starts_with("deadlock")
                    && self.deadlocks.fetch_add(1, Ordering::SeqCst) == 0 =>
                {
                    Err(Fail::Retry(error))
                }
                _ => {
                    tx.push(id.to_string());
                    Ok(())
                }
            }
        }
    }

    #[async_trait::async_trait]
    impl BatchWriter for Fake {
        type Tx = Vec<String>;
        const SYSTEM: &'static str = "fake";

        async fn begin(&self) -> Result<Vec<String>, Fail> {
            assert!(!self.panic_on_begin, "the writer crashed");
            self.gate.acquire().await.unwrap().forget();
            Ok(Vec::new())
        }
        async fn commit(&self, tx: Vec<String>) -> Result<(), Fail> {
            self.committed.lock().unwrap().push(tx);
            Ok(())
        }
        async fn rollback(&self, _tx: Vec<String>) {}
        async fn write_heads(
            &self,
            tx: &mut Vec<String>,
            writes: &[&CaseWrite],
        ) -> Result<Vec<Option<StoreError>>, (Option<usize>, Fail)> {
            let mut skipped = Vec::new();
            for (i, w) in writes.iter().enumerate() {
                match self.head(tx, w).await {
                    Ok(()) => skipped.push(None),
                    Err(Fail::Skip(e)) => skipped.push(Some(e)),
                    Err(fail) => return Err((Some(i), fail)),
                }
            }
            Ok(skipped)
        }
        async fn write_tails(
            &self,
            tx: &mut Vec<String>,
            writes: &[&CaseWrite],
        ) -> Result<Vec<Vec<StoredEvent>>, Fail> {
            if writes
                .iter()
                .any(|w| w.case.id.as_str().starts_with("tail"))
            {
                return Err(Fail::Write(StoreError::Database("someone's tail".into())));
            }
            tx.push("tails".into());
            Ok(writes.iter().map(|_| Vec::new()).collect())
        }
        async fn write_one(
            &self,
            tx: &mut Vec<String>,
            w: &CaseWrite,
        ) -> Result<Vec<StoredEvent>, Fail> {
            self.head(tx, w).await?;
            if w.case.id.as_str().starts_with("tail") {
                return Err(Fail::Write(StoreError::Database(w.case.id.to_string())));
            }
            tx.push("tail".into());
            Ok(Vec::new())
        }
    }

    struct Rig {
        group: GroupCommit,
        gate: Arc<Semaphore>,
        slow: Arc<Semaphore>,
        committed: Arc<StdMutex<Vec<Vec<String>>>>,
        alive: Arc<()>,
    }

    fn rig(writers: usize, panic_on_begin: bool) -> Rig {
        let gate = Arc::new(Semaphore::new(0));
        let slow = Arc::new(Semaphore::new(0));
        let committed = Arc::new(StdMutex::new(Vec::new()));
        let alive = Arc::new(());
        let fake = Fake {
            gate: gate.clone(),
            slow: slow.clone(),
            committed: committed.clone(),
            deadlocks: AtomicU32::new(0),
            panic_on_begin,
            _alive: alive.clone(),
        };
        Rig {
            group: GroupCommit::start(fake, writers),
            gate,
            slow,
            committed,
            alive,
        }
    }

    impl Rig {
        fn submit(&self, id: &str) -> tokio::task::JoinHandle<Answer> {
            self.submit_write(write(id))
        }

        fn submit_write(&self, w: CaseWrite) -> tokio::task::JoinHandle<Answer> {
            let group = self.group.clone();
            tokio::spawn(async move { group.write(w).await })
        }

        async fn until(&self, what: &str, done: impl Fn(WriteStats) -> bool) {
            for _ in 0..500 {
                if done(self.group.stats()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            panic!("timed out waiting for {what}: {:?}", self.group.stats());
        }

        /// `ids` queued behind a first write that holds the writer, so they form one batch.
        async fn one_batch(&self, ids: &[&str]) -> HashMap<String, Answer> {
            let first = self.submit("first");
            self.until("the first batch", |s| s.transactions == 1).await;
            let handles: Vec<_> = ids
                .iter()
                .map(|id| (id.to_string(), self.submit(id)))
                .collect();
            let n = ids.len() as u64 + 1;
            self.until("the queue", |s| s.pending == n).await;
            self.gate.add_permits(1000);
            first.await.unwrap().unwrap();
            let mut answers = HashMap::new();
            for (id, h) in handles {
                answers.insert(id, h.await.unwrap());
            }
            answers
        }

        fn committed(&self) -> Vec<Vec<String>> {
            self.committed.lock().unwrap().clone()
        }
    }

    fn error_of(answers: &HashMap<String, Answer>, id: &str) -> String {
        match &answers[id] {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{id} succeeded"),
        }
    }

    #[tokio::test]
    async fn a_failed_write_fails_alone_and_the_rest_commit_together() {
        let rig = rig(1, false);
        let ids = [
            "a",
            "conflict-1",
            "b",
            "dup-1",
            "c",
            "deadlock-1",
            "tail-1",
            "d",
        ];
        let answers = rig.one_batch(&ids).await;
        for id in ["a", "b", "c", "d", "deadlock-1"] {
            assert!(answers[id].is_ok(), "{id}: {:?}", answers[id]);
        }
        for id in ["conflict-1", "dup-1", "tail-1"] {
            assert!(error_of(&answers, id).contains(id), "{answers:?}");
        }
        // The second batch committed once, write by write after the tail failure, in (tenant,
        // case id) order and without the failed writes.
        let committed = rig.committed();
        assert_eq!(committed.len(), 2, "{committed:?}");
        let writes: Vec<&String> = committed[1].iter().filter(|s| *s != "tail").collect();
        assert_eq!(writes, ["a", "b", "c", "d", "deadlock-1"], "{committed:?}");
        let stats = rig.group.stats();
        assert_eq!(
            (stats.batches, stats.writes, stats.largest_batch),
            (2, 6, 5)
        );
        // first; then: dup rerun, deadlock rerun, tail → write by write, tail rerun, commit.
        assert_eq!(stats.transactions, 6, "{stats:?}");
        assert_eq!(stats.pending, 0);
    }

    /// A write skipped because of an earlier write of its batch is not told it conflicted
    /// when that earlier write then fails and never commits: it runs again, and commits.
    #[tokio::test]
    async fn a_conflict_with_a_write_that_did_not_commit_is_run_again() {
        let rig = rig(1, false);
        let answers = rig
            .one_batch(&["tail-1", "uses-tail-1", "conflict-1"])
            .await;
        assert!(
            error_of(&answers, "tail-1").contains("tail-1"),
            "{answers:?}"
        );
        assert!(error_of(&answers, "conflict-1").contains("conflict-1"));
        assert!(answers["uses-tail-1"].is_ok(), "{answers:?}");
        let committed = rig.committed();
        assert_eq!(committed.len(), 2, "{committed:?}");
        assert_eq!(committed[1], ["uses-tail-1", "tail"], "{committed:?}");
    }

    #[tokio::test]
    async fn writes_of_one_case_keep_their_order() {
        let rig = rig(1, false);
        let answers = rig.one_batch(&["x", "b", "x", "a"]).await;
        assert!(answers.values().all(|a| a.is_ok()));
        assert_eq!(rig.committed()[1], ["a", "b", "x", "x", "tails"]);
    }

    #[tokio::test]
    async fn an_unavailable_database_fails_the_batch_and_what_is_queued_behind_it() {
        let rig = rig(1, false);
        let first = rig.submit("down-1");
        rig.until("the first batch", |s| s.transactions == 1).await;
        let queued: Vec<_> = ["a", "b"].iter().map(|id| rig.submit(id)).collect();
        rig.until("the queue", |s| s.pending == 3).await;
        rig.gate.add_permits(1);
        assert!(matches!(
            first.await.unwrap(),
            Err(StoreError::Unavailable(_))
        ));
        for h in queued {
            assert!(matches!(h.await.unwrap(), Err(StoreError::Unavailable(_))));
        }
        assert!(rig.committed().is_empty());
        // The writer goes on: the next write commits.
        rig.gate.add_permits(1);
        rig.submit("c").await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_is_left_out() {
        let rig = rig(1, false);
        // Queued, then given up before its batch begins: never run.
        let first = rig.submit("first");
        rig.until("the first batch", |s| s.transactions == 1).await;
        let gone = rig.submit("gone-1");
        let kept = rig.submit("kept-1");
        rig.until("the queue", |s| s.pending == 3).await;
        gone.abort();
        rig.until("the abort", |s| s.pending == 2).await;
        rig.gate.add_permits(1000);
        first.await.unwrap().unwrap();
        kept.await.unwrap().unwrap();
        // In a batch already running, given up before COMMIT: rolled back, run again without.
        let slow = rig.submit("slow-1");
        let other = rig.submit("slow-2");
        rig.until("the slow batch", |s| s.pending == 2).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        slow.abort();
        rig.until("the abort", |s| s.pending == 1).await;
        rig.slow.add_permits(1000);
        other.await.unwrap().unwrap();
        let committed: Vec<String> = rig.committed().into_iter().flatten().collect();
        assert!(committed.contains(&"kept-1".to_string()), "{committed:?}");
        assert!(committed.contains(&"slow-2".to_string()), "{committed:?}");
        assert!(
            !committed.iter().any(|w| w == "gone-1" || w == "slow-1"),
            "{committed:?}"
        );
        assert_eq!(rig.group.stats().abandoned, 2);
    }

    #[tokio::test]
    async fn a_stopped_writer_answers_unavailable_rather_than_hanging() {
        let rig = rig(2, true);
        for id in ["a", "b", "c"] {
            let answer = tokio::time::timeout(Duration::from_secs(5), rig.submit(id))
                .await
                .expect("an answer, not a hang")
                .unwrap();
            assert!(
                matches!(answer, Err(StoreError::Unavailable(_))),
                "{answer:?}"
            );
        }
    }

    #[tokio::test]
    async fn failures_are_answered_with_the_batch_not_before() {
        let rig = rig(1, false);
        rig.gate.add_permits(1000);
        let first = rig.submit("first");
        first.await.unwrap().unwrap();
        // One batch: dup-1 fails, rolling it back; the rerun waits in slow-2's head.
        let blocker = rig.submit("slow-1");
        rig.until("the slow batch", |s| s.transactions == 2).await;
        let dup = rig.submit("dup-1");
        let slow = rig.submit("slow-2");
        rig.until("the queue", |s| s.pending == 3).await;
        rig.slow.add_permits(1);
        blocker.await.unwrap().unwrap();
        rig.until("the rerun", |s| s.transactions == 4).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !dup.is_finished(),
            "a failure was answered before its batch ended"
        );
        rig.slow.add_permits(1);
        assert!(dup.await.unwrap().is_err());
        slow.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn copies_of_one_request_run_once() {
        let rig = rig(1, false);
        let with_request = |id: &str| {
            let mut w = write(id);
            w.idempotency = Some(crate::IdempotencyRecord {
                request_id: "req-1".into(),
                method: "Test".into(),
                fingerprint: "f".into(),
                response: vec![],
                created_at: chrono::Utc::now(),
            });
            w
        };
        let first = rig.submit("first");
        rig.until("the first batch", |s| s.transactions == 1).await;
        let copies: Vec<_> = (0..5)
            .map(|_| rig.submit_write(with_request("copy")))
            .collect();
        rig.until("the queue", |s| s.pending == 6).await;
        rig.gate.add_permits(1000);
        first.await.unwrap().unwrap();
        let mut ok = 0;
        for c in copies {
            match c.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::DuplicateRequest { request_id }) => assert_eq!(request_id, "req-1"),
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(ok, 1);
        // Run once, in one transaction: no rerun per copy.
        assert_eq!(rig.committed()[1], ["copy", "tails"]);
        assert_eq!(rig.group.stats().transactions, 2);
    }

    #[tokio::test]
    async fn dropping_the_store_ends_its_writers() {
        let rig = rig(3, false);
        rig.gate.add_permits(10);
        rig.submit("a").await.unwrap().unwrap();
        let Rig { group, alive, .. } = rig;
        assert_eq!(Arc::strong_count(&alive), 2);
        drop(group);
        for _ in 0..500 {
            if Arc::strong_count(&alive) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the writers still hold the backend");
    }

    #[test]
    fn several_writers_take_batches_side_by_side() {
        // Two writers: while one holds a batch, the other takes the next write.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let rig = rig(2, false);
            let a = rig.submit("a");
            rig.until("the first batch", |s| s.transactions == 1).await;
            let b = rig.submit("b");
            rig.until("a second batch beside it", |s| s.transactions == 2)
                .await;
            rig.gate.add_permits(3);
            a.await.unwrap().unwrap();
            b.await.unwrap().unwrap();
            rig.submit("c").await.unwrap().unwrap();
            assert_eq!(rig.group.stats().batches, 3);
        });
    }
}
