//! The statements of a group-commit batch, written once for every driver.
//!
//! A batch is the same SQL on every backend; only how a statement reaches the database
//! differs: through sqlx on PostgreSQL (and on an in-memory SQLite database), through rusqlite
//! on a SQLite file (see [`crate::sqlite_write`]). So statements are built here as text with
//! `$1, $2…` placeholders plus their values ([`Statement`]), a driver runs them ([`Exec`]),
//! and reports a failure as what the batch needs to know of it ([`DbFailure`]): which
//! constraint, whether to run the batch again, and the backend's own classification.
//! See [`crate::group_commit`] for how a batch uses these functions.

use crate::group_commit::Fail;
use crate::sql::{self, CaseColumns, DeadlineColumns, EventColumns};
use crate::{CaseWrite, StoreError, StoredEvent, WriteMode};
use aftersales_domain::time::to_millis;
use aftersales_domain::{Case, Deadline};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// A value bound to a statement. Nulls keep their type: PostgreSQL checks a parameter's
/// declared type against its column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Bytes(Option<&'a [u8]>),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::Text(v.map(Cow::Borrowed))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Value::Text(Some(Cow::Owned(v)))
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Bytes(Some(v))
    }
}

impl<'a> From<Option<&'a [u8]>> for Value<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        Value::Bytes(v)
    }
}

/// Statement text with `$n` placeholders and the n-th value for each.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement<'a> {
    sql: String,
    values: Vec<Value<'a>>,
}

impl<'a> Statement<'a> {
    /// A statement whose text already names its placeholders; bind them in order.
    pub fn new(sql: impl Into<String>) -> Self {
        Statement {
            sql: sql.into(),
            values: Vec::new(),
        }
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn values(&self) -> &[Value<'a>] {
        &self.values
    }

    /// The next value of a text written with its placeholders.
    pub fn bind(mut self, v: impl Into<Value<'a>>) -> Self {
        self.values.push(v.into());
        self
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Appends a placeholder for `v`.
    pub fn push_bind(&mut self, v: impl Into<Value<'a>>) -> &mut Self {
        self.values.push(v.into());
        // Writing to a String cannot fail.
        let _ = write!(self.sql, "${}", self.values.len());
        self
    }

    /// Appends `VALUES (…), (…)`: one tuple per item, of the values `row` binds for it.
    pub fn push_rows<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut row: impl FnMut(&mut Row<'_, 'a>, T),
    ) -> &mut Self {
        self.sql.push_str("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            let first = self.values.len() + 1;
            row(&mut Row(&mut self.values), item);
            self.sql.push_str(if i == 0 { "(" } else { ", (" });
            for n in first..=self.values.len() {
                let sep = if n == first { "" } else { ", " };
                let _ = write!(self.sql, "{sep}${n}");
            }
            self.sql.push(')');
        }
        self
    }
}

/// The values of one tuple of [`Statement::push_rows`].
pub(crate) struct Row<'s, 'a>(&'s mut Vec<Value<'a>>);

impl<'a> Row<'_, 'a> {
    pub fn bind_all(&mut self, values: impl IntoIterator<Item = Value<'a>>) -> &mut Self {
        self.0.extend(values);
        self
    }
}

/// Which constraint a failed statement broke, if any.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Violation {
    None,
    /// The constraint (PostgreSQL) or message (SQLite, which names the columns).
    Unique(String),
    ForeignKey,
}

/// A failed statement, as the batch needs it.
#[derive(Debug)]
pub(crate) struct DbFailure {
    pub violation: Violation,
    /// A deadlock or serialization failure: nobody's fault, the batch runs again.
    pub retry: bool,
    /// The backend's classification (unavailable or a database error).
    pub error: StoreError,
}

/// Runs statements inside a batch's transaction.
#[async_trait::async_trait]
pub(crate) trait Exec: Send {
    /// Rows affected.
    async fn execute(&mut self, statement: &Statement<'_>) -> Result<u64, DbFailure>;
    /// The first column of the one row the statement returns.
    async fn fetch_int(&mut self, statement: &Statement<'_>) -> Result<i64, DbFailure>;
    /// The first column of every row the statement returns.
    async fn fetch_texts(&mut self, statement: &Statement<'_>) -> Result<Vec<String>, DbFailure>;
}

/// Who gets a failed statement's error: `map` says what the caller is told (the constraint
/// violations that statement can meet, else the backend's classification). A deadlock or
/// serialization failure reruns the batch, an unavailable database fails it whole, anything
/// else is the write's own.
fn fail(failure: DbFailure, map: impl FnOnce(DbFailure) -> StoreError) -> Fail {
    let retry = failure.retry;
    match map(failure) {
        e if retry => Fail::Retry(e),
        e @ StoreError::Unavailable(_) => Fail::Batch(e),
        e => Fail::Write(e),
    }
}

fn plain(failure: DbFailure) -> Fail {
    fail(failure, |f| f.error)
}

/// A unique violation while inserting or updating a case row: the platform-record index
/// (both backends mention `platform_case_id`, PostgreSQL in the index name, SQLite in the
/// column list) or else the primary key.
fn case_conflict(failure: DbFailure, case: &Case) -> StoreError {
    match failure.violation {
        Violation::Unique(what) if what.contains("platform_case_id") => {
            StoreError::DuplicatePlatformCase {
                platform: case.platform.to_string(),
                platform_case_id: case
                    .platform_case_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            }
        }
        Violation::Unique(_) => StoreError::AlreadyExists {
            what: format!("case {}", case.id),
        },
        _ => failure.error,
    }
}

/// Events name their case through a foreign key; appending to a case that was never stored is
/// a caller bug, said plainly rather than as a bare constraint failure.
fn missing_case(failure: DbFailure, case: &Case) -> StoreError {
    match failure.violation {
        Violation::ForeignKey => StoreError::Database(format!(
            "events for case {} of tenant {}, which is not stored",
            case.id, case.tenant
        )),
        _ => failure.error,
    }
}

fn idempotency_values<'a>(tenant: &'a str, idem: &'a crate::IdempotencyRecord) -> [Value<'a>; 6] {
    [
        tenant.into(),
        idem.request_id.as_str().into(),
        idem.method.as_str().into(),
        idem.fingerprint.as_str().into(),
        idem.response.as_slice().into(),
        to_millis(idem.created_at).into(),
    ]
}

fn event_values<'a>(w: &'a CaseWrite, e: EventColumns<'a>) -> [Value<'a>; 13] {
    [
        w.case.tenant.as_str().into(),
        e.seq.into(),
        w.case.id.as_str().into(),
        e.kind.into(),
        e.actor_kind.into(),
        e.actor_id.into(),
        e.from_state.into(),
        e.to_state.into(),
        e.detail.into(),
        e.occurred_at.into(),
        w.case.shop.as_str().into(),
        w.caller.as_ref().map(|c| c.account.as_str()).into(),
        w.caller.as_ref().map(|c| c.key_id.as_str()).into(),
    ]
}

fn deadline_values<'a>(case: &'a Case, d: DeadlineColumns<'a>) -> [Value<'a>; 14] {
    [
        case.tenant.as_str().into(),
        case.id.as_str().into(),
        d.position.into(),
        d.shop_id.into(),
        d.platform.into(),
        d.key.into(),
        d.rule_id.into(),
        d.due_party.into(),
        d.due_at.into(),
        d.remind_at.into(),
        d.reminded_at.into(),
        d.consequence.into(),
        d.source.into(),
        d.state.into(),
    ]
}

/// The idempotency record and the case row of one write.
async fn head<E: Exec>(tx: &mut E, write: &CaseWrite) -> Result<(), Fail> {
    let case = &write.case;
    let tenant = case.tenant.as_str();

    // First, so a repeated request fails before it has done anything.
    if let Some(idem) = &write.idempotency {
        let mut q = Statement::new(sql::INSERT_IDEMPOTENCY);
        q.values.extend(idempotency_values(tenant, idem));
        tx.execute(&q).await.map_err(|f| {
            fail(f, |f| match f.violation {
                Violation::Unique(_) => StoreError::DuplicateRequest {
                    request_id: idem.request_id.clone(),
                },
                _ => f.error,
            })
        })?;
    }

    if write.mode == WriteMode::EventsOnly {
        return Ok(());
    }
    let c = CaseColumns::new(case).map_err(Fail::Write)?;
    let mut q = Statement::new(match write.mode {
        WriteMode::Insert => sql::INSERT_CASE,
        _ => sql::UPDATE_CASE,
    });
    q.values.extend(c.values());
    if let WriteMode::Update { expected_version } = write.mode {
        q.values.push(expected_version.into());
    }
    let done = tx
        .execute(&q)
        .await
        .map_err(|f| fail(f, |f| case_conflict(f, case)))?;
    if let WriteMode::Update { expected_version } = write.mode {
        if done == 0 {
            // Nothing of this write is left but its idempotency record: take it back, and
            // the rest of the batch goes on in this transaction.
            if let Some(idem) = &write.idempotency {
                let q = Statement::new(sql::DELETE_IDEMPOTENCY)
                    .bind(tenant)
                    .bind(idem.request_id.as_str());
                tx.execute(&q).await.map_err(plain)?;
            }
            return Err(Fail::Skip(StoreError::VersionConflict {
                case_id: case.id.to_string(),
                expected: expected_version,
            }));
        }
    }
    Ok(())
}

/// The deadline rows and events of one write whose head has run: the statements a write ran
/// on its own before group commit.
async fn tail<E: Exec>(tx: &mut E, write: &CaseWrite) -> Result<Vec<StoredEvent>, Fail> {
    let case = &write.case;
    if write.mode != WriteMode::EventsOnly {
        let replaced = matches!(write.mode, WriteMode::Update { .. });
        mirror_deadlines(tx, &[(case, replaced)]).await?;
    }
    if write.events.is_empty() {
        return Ok(Vec::new());
    }
    let n = write.events.len() as i64;
    let bump = Statement::new(sql::BUMP_EVENT_COUNTER)
        .bind(case.tenant.as_str())
        .bind(n);
    let last = tx.fetch_int(&bump).await.map_err(plain)?;
    let first = last - n + 1;
    let mut q = Statement::new(sql::INSERT_EVENTS);
    q.push_rows(write.events.iter().zip(first..), |row, (e, seq)| {
        row.bind_all(event_values(write, EventColumns::new(seq, e)));
    });
    tx.execute(&q)
        .await
        .map_err(|f| fail(f, |f| missing_case(f, case)))?;
    Ok(sql::stored_events(
        case,
        first,
        &write.events,
        write.caller.as_ref(),
    ))
}

/// The whole of one write, statement by statement.
pub(crate) async fn write_one<E: Exec>(
    tx: &mut E,
    write: &CaseWrite,
) -> Result<Vec<StoredEvent>, Fail> {
    head(tx, write).await?;
    tail(tx, write).await
}

/// Makes the deadline mirror of each case equal its deadlines: rows past a case's last
/// position go, the others are upserted (rewritten only where they differ, see
/// [`sql::UPSERT_DEADLINES`]). `true` beside a case says it may have rows already (an
/// update); a case opened in this transaction has none.
async fn mirror_deadlines<E: Exec>(tx: &mut E, cases: &[(&Case, bool)]) -> Result<(), Fail> {
    let mut surplus: BTreeMap<&str, Vec<(&str, i64)>> = BTreeMap::new();
    for (case, _) in cases.iter().filter(|(_, replaced)| *replaced) {
        surplus
            .entry(case.tenant.as_str())
            .or_default()
            .push((case.id.as_str(), case.deadlines.len() as i64));
    }
    for (tenant, ends) in &surplus {
        for chunk in sql::row_chunks(ends, sql::ROWS_PER_STATEMENT) {
            tx.execute(&delete_surplus_deadlines(tenant, chunk))
                .await
                .map_err(plain)?;
        }
    }

    let rows: Vec<(&Case, usize, &Deadline)> = cases
        .iter()
        .flat_map(|(case, _)| {
            case.deadlines
                .iter()
                .enumerate()
                .map(move |(p, d)| (*case, p, d))
        })
        .collect();
    for chunk in sql::row_chunks(&rows, sql::ROWS_PER_STATEMENT) {
        let mut q = Statement::new(sql::INSERT_DEADLINES);
        q.push_rows(chunk, |row, (case, i, d)| {
            row.bind_all(deadline_values(case, DeadlineColumns::new(case, *i, d)));
        });
        q.push(sql::UPSERT_DEADLINES);
        tx.execute(&q).await.map_err(plain)?;
    }
    Ok(())
}

/// The DELETE of one tenant's deadline rows past each listed case's last position, so the
/// mirror ends where each case's deadlines do: `ends` holds (case id, deadline count). Served
/// by the primary key (tenant_id, case_id, position): the IN list finds the cases, the CASE
/// picks each one's end.
pub(crate) fn delete_surplus_deadlines<'a>(
    tenant: &'a str,
    ends: &[(&'a str, i64)],
) -> Statement<'a> {
    let mut q = Statement::new("DELETE FROM deadlines WHERE tenant_id = ");
    q.push_bind(tenant).push(" AND case_id IN (");
    for (i, (id, _)) in ends.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push_bind(*id);
    }
    q.push(") AND position >= CASE case_id");
    for (id, end) in ends {
        q.push(" WHEN ")
            .push_bind(*id)
            .push(" THEN ")
            .push_bind(*end);
    }
    q.push(" END");
    q
}

/// The idempotency records and case rows of a batch, in as few statements as possible (see
/// [`crate::group_commit::BatchWriter::write_heads`]).
pub(crate) async fn write_heads<E: Exec>(
    tx: &mut E,
    writes: &[&CaseWrite],
) -> Result<Vec<Option<StoreError>>, (Option<usize>, Fail)> {
    let batch_fail = |f| (None, plain(f));

    // Idempotency records first, so a repeated request fails before its case is touched. A
    // duplicate among them is someone's, but not knowably whose: the batch then runs write by
    // write.
    let records: Vec<(&str, &crate::IdempotencyRecord)> = writes
        .iter()
        .filter_map(|w| Some((w.case.tenant.as_str(), w.idempotency.as_ref()?)))
        .collect();
    for chunk in sql::row_chunks(&records, sql::ROWS_PER_STATEMENT) {
        let mut q = Statement::new(sql::INSERT_IDEMPOTENCY_ROWS);
        q.push_rows(chunk, |row, (tenant, idem)| {
            row.bind_all(idempotency_values(tenant, idem));
        });
        tx.execute(&q).await.map_err(batch_fail)?;
    }

    // New cases, all together (likewise for a duplicate).
    let mut new_cases = Vec::new();
    for (i, w) in writes.iter().enumerate() {
        if w.mode == WriteMode::Insert {
            new_cases.push(CaseColumns::new(&w.case).map_err(|e| (Some(i), Fail::Write(e)))?);
        }
    }
    for chunk in sql::row_chunks(&new_cases, sql::ROWS_PER_STATEMENT) {
        let mut q = Statement::new(sql::INSERT_CASE_ROWS);
        q.push_rows(chunk, |row, c| {
            row.bind_all(c.values());
        });
        tx.execute(&q).await.map_err(batch_fail)?;
    }

    let updates: Vec<(usize, &CaseWrite, i64)> = writes
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match w.mode {
            WriteMode::Update { expected_version } => Some((i, *w, expected_version)),
            _ => None,
        })
        .collect();
    let mut skipped: Vec<Option<StoreError>> = writes.iter().map(|_| None).collect();
    let mut ids = std::collections::HashSet::with_capacity(updates.len());
    let distinct = updates
        .iter()
        .all(|(_, w, _)| ids.insert(w.case.id.as_str()));
    let missed = if updates.len() > 1 && distinct {
        update_together(tx, &updates).await?
    } else {
        update_in_turn(tx, &updates).await?
    };
    for (i, w, expected_version) in missed {
        // Nothing of this write is left but its idempotency record: take it back, and the
        // rest of the batch goes on in this transaction.
        if let Some(idem) = &w.idempotency {
            let q = Statement::new(sql::DELETE_IDEMPOTENCY)
                .bind(w.case.tenant.as_str())
                .bind(idem.request_id.as_str());
            tx.execute(&q).await.map_err(batch_fail)?;
        }
        skipped[i] = Some(StoreError::VersionConflict {
            case_id: w.case.id.to_string(),
            expected: expected_version,
        });
    }
    Ok(skipped)
}

/// An update of a batch: the write's index, the write, its expected version.
type Update<'w> = (usize, &'w CaseWrite, i64);

/// Case updates as one statement per [`sql::ROWS_PER_STATEMENT`] cases, which must be
/// distinct (a case's second write must see its first). One round trip and one executor
/// start for the batch's updates instead of one each: on PostgreSQL these were most of a
/// batch's statements. Answers the updates that found their case at another version.
async fn update_together<'w, E: Exec>(
    tx: &mut E,
    updates: &[Update<'w>],
) -> Result<Vec<Update<'w>>, (Option<usize>, Fail)> {
    let mut columns = Vec::with_capacity(updates.len());
    for (i, w, expected) in updates {
        columns.push((
            CaseColumns::new(&w.case).map_err(|e| (Some(*i), Fail::Write(e)))?,
            *expected,
        ));
    }
    let mut updated = std::collections::HashSet::with_capacity(updates.len());
    for chunk in sql::row_chunks(&columns, sql::ROWS_PER_STATEMENT) {
        let mut q = Statement::new(sql::UPDATE_CASE_ROWS);
        q.push_rows(chunk, |row, (c, expected)| {
            row.bind_all(c.values()).bind_all([Value::from(*expected)]);
        });
        q.push(sql::UPDATE_CASE_ROWS_END);
        // No constraint an update can break is one write's (the identity columns, which
        // the unique indexes cover, are not set): a failure here is the batch's.
        updated.extend(tx.fetch_texts(&q).await.map_err(|f| (None, plain(f)))?);
    }
    Ok(updates
        .iter()
        .filter(|(_, w, _)| !updated.contains(w.case.id.as_str()))
        .copied()
        .collect())
}

/// Case updates one by one, in batch order: each sees the writes before it. Answers the
/// updates that found their case at another version.
async fn update_in_turn<'w, E: Exec>(
    tx: &mut E,
    updates: &[Update<'w>],
) -> Result<Vec<Update<'w>>, (Option<usize>, Fail)> {
    let mut missed = Vec::new();
    for &(i, w, expected_version) in updates {
        let case = &w.case;
        let c = CaseColumns::new(case).map_err(|e| (Some(i), Fail::Write(e)))?;
        let mut q = Statement::new(sql::UPDATE_CASE);
        q.values.extend(c.values());
        q.values.push(expected_version.into());
        let done = tx
            .execute(&q)
            .await
            .map_err(|f| (Some(i), fail(f, |f| case_conflict(f, case))))?;
        if done == 0 {
            missed.push((i, w, expected_version));
        }
    }
    Ok(missed)
}

/// The deadline rows, counters and events of writes whose heads succeeded (see
/// [`crate::group_commit::BatchWriter::write_tails`]).
pub(crate) async fn write_tails<E: Exec>(
    tx: &mut E,
    writes: &[&CaseWrite],
) -> Result<Vec<Vec<StoredEvent>>, Fail> {
    // A case's deadline rows mirror it as the batch leaves it: as the last of its writes that
    // wrote the case row has it. Only an updated case can have rows already; a case new in
    // this batch has none yet (they reference it).
    let mut last: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        if w.mode != WriteMode::EventsOnly {
            last.insert((w.case.tenant.as_str(), w.case.id.as_str()), i);
        }
    }
    let mirrored: Vec<(&Case, bool)> = writes
        .iter()
        .enumerate()
        .filter(|(i, w)| last.get(&(w.case.tenant.as_str(), w.case.id.as_str())) == Some(i))
        .map(|(_, w)| (&w.case, matches!(w.mode, WriteMode::Update { .. })))
        .collect();
    mirror_deadlines(tx, &mirrored).await?;

    // One counter bump per tenant, in tenant order (so two writers lock counters in the same
    // order), after the rows above: the counter is the lock every writer of the tenant queues
    // on, held from here to COMMIT.
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for w in writes.iter().filter(|w| !w.events.is_empty()) {
        *counts.entry(w.case.tenant.as_str()).or_default() += w.events.len() as i64;
    }
    let mut next: HashMap<&str, i64> = HashMap::with_capacity(counts.len());
    for (tenant, n) in counts {
        let bump = Statement::new(sql::BUMP_EVENT_COUNTER).bind(tenant).bind(n);
        let last = tx.fetch_int(&bump).await.map_err(plain)?;
        next.insert(tenant, last - n + 1);
    }
    let mut stored = Vec::with_capacity(writes.len());
    let mut events = Vec::new();
    for w in writes {
        let Some(seq) = next.get_mut(w.case.tenant.as_str()) else {
            stored.push(Vec::new());
            continue;
        };
        let first = *seq;
        *seq += w.events.len() as i64;
        events.extend(w.events.iter().zip(first..).map(|(e, seq)| (*w, seq, e)));
        stored.push(sql::stored_events(
            &w.case,
            first,
            &w.events,
            w.caller.as_ref(),
        ));
    }
    for chunk in sql::row_chunks(&events, sql::ROWS_PER_STATEMENT) {
        let mut q = Statement::new(sql::INSERT_EVENTS);
        q.push_rows(chunk, |row, (w, seq, e)| {
            row.bind_all(event_values(w, EventColumns::new(*seq, e)));
        });
        // A missing case (an events-only write for a case never stored) is one write's error,
        // but which one this cannot tell: the batch then runs write by write.
        tx.execute(&q).await.map_err(plain)?;
    }
    Ok(stored)
}

/// A sqlx error as the batch needs it; `classify` is the backend's.
pub(crate) fn sqlx_failure(err: sqlx::Error, classify: fn(sqlx::Error) -> StoreError) -> DbFailure {
    use sqlx::error::ErrorKind;
    let db = err.as_database_error();
    let violation = match sql::unique_violation(&err) {
        Some(what) => Violation::Unique(what),
        None if db.is_some_and(|db| db.kind() == ErrorKind::ForeignKeyViolation) => {
            Violation::ForeignKey
        }
        None => Violation::None,
    };
    let retry = db
        .and_then(|db| db.code())
        .is_some_and(|code| matches!(code.as_ref(), "40P01" | "40001"));
    DbFailure {
        violation,
        retry,
        error: classify(err),
    }
}

/// Binds a [`Statement`]'s values, in order, to a sqlx query (`query` or `query_scalar`).
macro_rules! bind_values {
    ($query:expr, $statement:expr) => {{
        let mut q = $query;
        for v in $statement.values() {
            q = match v {
                $crate::batch::Value::Text(t) => q.bind(t.as_deref()),
                $crate::batch::Value::Int(i) => q.bind(*i),
                $crate::batch::Value::Bytes(b) => q.bind(*b),
            };
        }
        q
    }};
}

pub(crate) use bind_values;

/// Expands [`Exec`] for a sqlx transaction of `$db`, and the group commit's
/// [`BatchWriter`](crate::group_commit::BatchWriter) as the struct `$writer`, which holds the
/// pool its transactions begin on; `<$store>::error` classifies driver errors.
macro_rules! impl_sqlx_batch_writer {
    ($writer:ident, $store:ty, $db:ty, $system:literal) => {
        #[async_trait::async_trait]
        impl $crate::batch::Exec for sqlx::Transaction<'static, $db> {
            async fn execute(
                &mut self,
                statement: &$crate::batch::Statement<'_>,
            ) -> Result<u64, $crate::batch::DbFailure> {
                let q = $crate::batch::bind_values!(sqlx::query::<$db>(statement.sql()), statement);
                q.execute(&mut **self)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(|e| $crate::batch::sqlx_failure(e, <$store>::error))
            }

            async fn fetch_int(
                &mut self,
                statement: &$crate::batch::Statement<'_>,
            ) -> Result<i64, $crate::batch::DbFailure> {
                let q = $crate::batch::bind_values!(
                    sqlx::query_scalar::<$db, i64>(statement.sql()),
                    statement
                );
                q.fetch_one(&mut **self)
                    .await
                    .map_err(|e| $crate::batch::sqlx_failure(e, <$store>::error))
            }

            async fn fetch_texts(
                &mut self,
                statement: &$crate::batch::Statement<'_>,
            ) -> Result<Vec<String>, $crate::batch::DbFailure> {
                let q = $crate::batch::bind_values!(
                    sqlx::query_scalar::<$db, String>(statement.sql()),
                    statement
                );
                q.fetch_all(&mut **self)
                    .await
                    .map_err(|e| $crate::batch::sqlx_failure(e, <$store>::error))
            }
        }

        /// Runs the group commit's batches on a sqlx pool.
        pub(crate) struct $writer {
            pub(crate) pool: sqlx::Pool<$db>,
        }

        #[async_trait::async_trait]
        impl $crate::group_commit::BatchWriter for $writer {
            type Tx = sqlx::Transaction<'static, $db>;
            const SYSTEM: &'static str = $system;

            async fn begin(&self) -> Result<Self::Tx, $crate::group_commit::Fail> {
                self.pool
                    .begin()
                    .await
                    .map_err(|e| $crate::group_commit::Fail::Batch(<$store>::error(e)))
            }

            async fn commit(&self, tx: Self::Tx) -> Result<(), $crate::group_commit::Fail> {
                tx.commit()
                    .await
                    .map_err(|e| $crate::group_commit::Fail::Batch(<$store>::error(e)))
            }

            async fn rollback(&self, tx: Self::Tx) {
                if let Err(e) = tx.rollback().await {
                    tracing::debug!(error = %e, "rollback failed");
                }
            }

            async fn write_heads(
                &self,
                tx: &mut Self::Tx,
                writes: &[&$crate::CaseWrite],
            ) -> Result<Vec<Option<$crate::StoreError>>, (Option<usize>, $crate::group_commit::Fail)>
            {
                $crate::batch::write_heads(tx, writes).await
            }

            async fn write_tails(
                &self,
                tx: &mut Self::Tx,
                writes: &[&$crate::CaseWrite],
            ) -> Result<Vec<Vec<$crate::StoredEvent>>, $crate::group_commit::Fail> {
                $crate::batch::write_tails(tx, writes).await
            }

            async fn write_one(
                &self,
                tx: &mut Self::Tx,
                write: &$crate::CaseWrite,
            ) -> Result<Vec<$crate::StoredEvent>, $crate::group_commit::Fail> {
                $crate::batch::write_one(tx, write).await
            }
        }
    };
}

pub(crate) use impl_sqlx_batch_writer;

#[cfg(test)]
mod tests {
    use super::{delete_surplus_deadlines, Statement, Value};

    /// Both drivers bind by position: every `$n` must be the n-th value.
    #[test]
    fn rows_number_their_placeholders_in_bind_order() {
        let mut q = Statement::new("INSERT INTO t (a, b) ");
        q.push_rows([("x", 1), ("y", 2)], |row, (a, b)| {
            row.bind_all([Value::from(a), Value::from(i64::from(b))]);
        });
        q.push(" ON CONFLICT DO NOTHING");
        assert_eq!(
            q.sql(),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            q.values(),
            [
                Value::from("x"),
                Value::from(1i64),
                Value::from("y"),
                Value::from(2i64)
            ]
        );
    }

    #[test]
    fn surplus_deadlines_are_found_by_case_and_position() {
        let q = delete_surplus_deadlines("acme", &[("c1", 2), ("c2", 0)]);
        assert_eq!(
            q.sql(),
            "DELETE FROM deadlines WHERE tenant_id = $1 AND case_id IN ($2, $3) \
             AND position >= CASE case_id WHEN $4 THEN $5 WHEN $6 THEN $7 END"
        );
        assert_eq!(
            q.values(),
            [
                Value::from("acme"),
                Value::from("c1"),
                Value::from("c2"),
                Value::from("c1"),
                Value::from(2i64),
                Value::from("c2"),
                Value::from(0i64)
            ]
        );
    }
}
