//! What the two backends share: the SQL text, turning domain values into bindable columns,
//! decoding rows back, classifying errors, and (as a macro) the whole `Store` implementation.
//!
//! Both drivers accept `$1, $2…` placeholders, so one statement text serves both. The `Store`
//! body is a `macro_rules!` rather than a generic function because sqlx's executor and
//! encode bounds for a generic `Database` are long and leak into every signature; the macro
//! expands the same code once per backend, and each backend supplies only `read_connection()`,
//! `writer()`, `group()` and `error()`. Case writes go through the group commit
//! (`crate::group_commit`), whose statements are in `crate::batch`.

use crate::batch::Statement;
use crate::case_view::{self, CaseRead, StoredView, ViewColumns};
use crate::{
    ApiKeyRecord, Caller, ClaimedTimer, DueDeadline, IdempotencyRecord, StoreError, StoredEvent,
    TimerKind,
};
use aftersales_domain::access::ShopScope;
use aftersales_domain::event::Actor;
use aftersales_domain::time::{from_millis, to_millis};
use aftersales_domain::{
    ActorKind, Case, CaseId, CaseState, Deadline, DeadlineSource, DueParty, NewEvent, PlatformCode,
    ShopId, TenantId,
};
use std::fmt::Display;

// ---------------------------------------------------------------------------------------------
// Statements

pub(crate) const INSERT_API_KEY: &str = "INSERT INTO api_keys \
     (key_id, tenant_id, account, role, platform_task, secret_hash, created_at, revoked_at, \
      shops, expires_at, created_by, replaced_by) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

const API_KEY_COLUMNS: &str = "key_id, tenant_id, account, role, platform_task, secret_hash, \
     created_at, revoked_at, shops, expires_at, created_by, replaced_by";

pub(crate) fn select_api_key() -> String {
    format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_id = $1")
}

/// Keyset over the primary key; `tenant_id` is checked per row (a tenant has few keys, and
/// `api_keys_by_tenant` serves the equality).
pub(crate) fn list_api_keys() -> String {
    format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND key_id > $2 \
         ORDER BY key_id LIMIT $3"
    )
}

/// The first revocation time stands.
pub(crate) fn revoke_api_key() -> String {
    format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
         WHERE tenant_id = $1 AND key_id = $2 RETURNING {API_KEY_COLUMNS}"
    )
}

/// The old key of a rotation: only a live, never-rotated key may be rotated, so two
/// concurrent rotations of one key cannot both mint a successor.
pub(crate) fn retire_rotated_api_key() -> String {
    format!(
        "UPDATE api_keys SET expires_at = $3, replaced_by = $4 \
         WHERE tenant_id = $1 AND key_id = $2 AND revoked_at IS NULL AND replaced_by IS NULL \
           AND (expires_at IS NULL OR expires_at > $5) \
         RETURNING {API_KEY_COLUMNS}"
    )
}

pub(crate) const INSERT_IDEMPOTENCY: &str = "INSERT INTO idempotency_keys \
     (tenant_id, request_id, method, fingerprint, response, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Takes back the record of a write that then failed on a version conflict, inside the
/// batch's transaction (so its row was the one that write had just inserted).
pub(crate) const DELETE_IDEMPOTENCY: &str =
    "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND request_id = $2";

/// Followed by `VALUES (…), (…)`, one tuple per record in [`INSERT_IDEMPOTENCY`] order.
pub(crate) const INSERT_IDEMPOTENCY_ROWS: &str = "INSERT INTO idempotency_keys \
     (tenant_id, request_id, method, fingerprint, response, created_at) ";

pub(crate) const SELECT_IDEMPOTENCY: &str = "SELECT request_id, method, fingerprint, response, \
     created_at FROM idempotency_keys WHERE tenant_id = $1 AND request_id = $2";

/// Binds: the [`CaseColumns`] in field order ($1…$17).
pub(crate) const INSERT_CASE: &str = "INSERT INTO cases \
     (tenant_id, id, shop_id, platform, platform_case_id, kind, state, next_deadline_at, \
      platform_version, version, created_at, updated_at, order_id, sub_order_id, \
      needs_refresh, body, satisfaction, api_view, api_view_format, api_view_version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
     $18, $19, $20)";

/// Followed by `VALUES (…), (…)`, one tuple of [`CaseColumns`] per case, in field order.
pub(crate) const INSERT_CASE_ROWS: &str = "INSERT INTO cases \
     (tenant_id, id, shop_id, platform, platform_case_id, kind, state, next_deadline_at, \
      platform_version, version, created_at, updated_at, order_id, sub_order_id, \
      needs_refresh, body, satisfaction, api_view, api_view_format, api_view_version) ";

/// Binds: the [`CaseColumns`] in field order ($1…$20), then the expected version ($21).
///
/// Sets only what a case can change after it opened. A case's identity (tenant, id, shop,
/// platform, platform record, order line, opening time) is fixed when it opens, and a column
/// left out of SET is one whose indexes SQLite does not touch: it decides by the SET list, not
/// the values, and writes every touched index page to the WAL whole — naming all sixteen made
/// an update rewrite entries in all eleven indexes on `cases`. (`satisfaction` is in SET, but
/// its index is partial and an open case, the one updated most, has no entry in it.) The
/// identity is still compared, so a write that changed it matches no row and is refused (as a
/// version conflict) rather than leaving columns that disagree with the body.
pub(crate) const UPDATE_CASE: &str = "UPDATE cases SET \
     kind = $6, state = $7, next_deadline_at = $8, platform_version = $9, version = $10, \
     updated_at = $12, needs_refresh = $15, body = $16, satisfaction = $17, \
     api_view = $18, api_view_format = $19, api_view_version = $20 \
     WHERE tenant_id = $1 AND id = $2 AND version = $21 \
     AND (shop_id, platform, platform_case_id, created_at, order_id, sub_order_id) \
     IS NOT DISTINCT FROM ($3, $4, $5, $11, $13, $14)";

/// [`UPDATE_CASE`] for several cases in one statement: followed by `VALUES (…), (…)`, one tuple
/// per case of its [`CaseColumns`] in field order and then its expected version (`column21`),
/// and by [`UPDATE_CASE_ROWS_END`]. It answers the ids of the cases it updated; a case it
/// left alone was not at its expected version. The cases must be distinct: a case named
/// twice would be updated from one of its tuples, and which is not defined.
pub(crate) const UPDATE_CASE_ROWS: &str = "UPDATE cases AS c SET \
     kind = v.column6, state = v.column7, next_deadline_at = v.column8, \
     platform_version = v.column9, version = v.column10, updated_at = v.column12, \
     needs_refresh = v.column15, body = v.column16, satisfaction = v.column17, \
     api_view = v.column18, api_view_format = v.column19, \
     api_view_version = v.column20 FROM (";

/// Closes [`UPDATE_CASE_ROWS`]: each tuple finds its case by key (tenant and id; SQLite may
/// take an index that ends in them), and the identity is compared as in [`UPDATE_CASE`]. Unqualified `id` in RETURNING: SQLite lets RETURNING name only the
/// updated table's columns, and the VALUES columns are all `columnN`.
pub(crate) const UPDATE_CASE_ROWS_END: &str = ") AS v \
     WHERE c.tenant_id = v.column1 AND c.id = v.column2 AND c.version = v.column21 \
     AND (c.shop_id, c.platform, c.platform_case_id, c.created_at, c.order_id, c.sub_order_id) \
     IS NOT DISTINCT FROM (v.column3, v.column4, v.column5, v.column11, v.column13, v.column14) \
     RETURNING id";

/// AL-23: one row per case opened in a window, with the facts shop health counts. Followed
/// by optional platform/shop conditions. Served by `cases_by_created` and, per case,
/// `case_events_by_case`. The first response is the merchant's first act on the request; a
/// satisfaction check comes after resolution and is not one.
pub(crate) const SELECT_CASE_HEALTH: &str = "SELECT c.platform, c.shop_id, c.state, c.kind, \
     c.created_at, c.satisfaction, \
     (SELECT COUNT(*) FROM case_events e WHERE e.tenant_id = c.tenant_id AND e.case_id = c.id \
       AND e.to_state = 'platform_intervening') AS intervened, \
     (SELECT COUNT(*) FROM case_events e WHERE e.tenant_id = c.tenant_id AND e.case_id = c.id \
       AND e.kind = 'ruling_recorded') AS ruled, \
     (SELECT COUNT(*) FROM case_events e WHERE e.tenant_id = c.tenant_id AND e.case_id = c.id \
       AND e.kind = 'deadline_expired') AS expired, \
     (SELECT MIN(e.occurred_at) FROM case_events e WHERE e.tenant_id = c.tenant_id \
       AND e.case_id = c.id AND e.actor_kind = 'merchant' \
       AND e.kind NOT IN ('case_created', 'action_refused', 'satisfaction_checked')) \
       AS first_response \
     FROM cases c";

/// The cases on one order, every line (TB-03, TB-29, PD-07), oldest first. Served by
/// `cases_by_order_line` (its prefix).
pub(crate) const SELECT_CASES_ON_ORDER: &str = "SELECT tenant_id, id, body FROM cases \
     WHERE tenant_id = $1 AND platform = $2 AND shop_id = $3 AND order_id = $4 \
     ORDER BY created_at, id LIMIT 100";

pub(crate) const SELECT_CASE: &str = "SELECT tenant_id, id, body FROM cases \
     WHERE tenant_id = $1 AND id = $2";

/// GetCase's read ([`decode_case_read`]): the view and what access is checked against first,
/// the body (read only where the view will not do) last.
pub(crate) const SELECT_CASE_VIEW: &str = "SELECT shop_id, platform, kind, version, \
     api_view_version, api_view_format, api_view, tenant_id, id, body FROM cases \
     WHERE tenant_id = $1 AND id = $2";

/// The pass's progress in one view format (crate::case_view, "the pass").
pub(crate) const SELECT_VIEW_PASS: &str =
    "SELECT after_tenant, after_id, finished FROM case_view_passes WHERE format = $1";

/// A page of the pass: the next cases in primary-key order after `($1, $2)`, each with its
/// body only where its view is not current in format `$3` (the rest cost the read of a key).
pub const SELECT_VIEWS_TO_REFRESH: &str = "SELECT tenant_id, id, version, \
     CASE WHEN api_view_format = $3 AND api_view_version = version THEN NULL ELSE body END \
     AS body FROM cases WHERE (tenant_id, id) > ($1, $2) ORDER BY tenant_id, id LIMIT $4";

/// Stores the views a page of the pass rendered, in one statement (one round trip, and on
/// SQLite the write lock held for the statement rather than for a statement per case):
/// followed by `VALUES (…), (…)`, one tuple `(tenant_id, id, version, view, format)` per
/// view, then [`STORE_REFRESHED_VIEWS_SET`]. Each is stored only if its row is still the
/// version it was rendered from: a write since has stored its own.
pub(crate) const STORE_REFRESHED_VIEWS: &str =
    "WITH rendered (tenant_id, id, version, view, format) AS (";

/// Ends [`STORE_REFRESHED_VIEWS`].
pub(crate) const STORE_REFRESHED_VIEWS_SET: &str = ") UPDATE cases \
     SET api_view = rendered.view, api_view_format = rendered.format, \
     api_view_version = rendered.version FROM rendered \
     WHERE cases.tenant_id = rendered.tenant_id AND cases.id = rendered.id \
     AND cases.version = rendered.version";

/// Claims a page of the pass by moving its progress from where the page began (`$5, $6`)
/// to where it ends, in the page's transaction. No row changes if another process running
/// the same pass has moved it first: it wrote this page, and this one stores nothing. (On
/// PostgreSQL a claim made while another page's transaction holds the row waits for it,
/// then sees the progress moved.)
pub(crate) const CLAIM_VIEW_PASS_PAGE: &str = "UPDATE case_view_passes \
     SET after_tenant = $2, after_id = $3, finished = $4 \
     WHERE format = $1 AND after_tenant = $5 AND after_id = $6 AND NOT finished";

/// [`CLAIM_VIEW_PASS_PAGE`] for the first page in a format, which has no progress yet.
pub(crate) const CLAIM_FIRST_VIEW_PASS_PAGE: &str = "INSERT INTO case_view_passes \
     (format, after_tenant, after_id, finished) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (format) DO NOTHING";

pub(crate) const SELECT_CASE_BY_PLATFORM_ID: &str = "SELECT tenant_id, id, body FROM cases \
     WHERE tenant_id = $1 AND platform = $2 AND platform_case_id = $3";

/// Followed by `VALUES (…), (…)`, one tuple per [`DeadlineColumns`], then
/// [`UPSERT_DEADLINES`]. The lease columns are left NULL on purpose: rewriting a case's
/// deadlines drops any lease on them, which is how a sweeper's claim completes once it has
/// written the case.
pub(crate) const INSERT_DEADLINES: &str = "INSERT INTO deadlines \
     (tenant_id, case_id, position, shop_id, platform, key, rule_id, due_party, due_at, \
      remind_at, reminded_at, consequence, source, state) ";

/// Ends [`INSERT_DEADLINES`]: a row already mirrored at its position is rewritten only when a
/// column differs or a sweeper holds a lease on it (the lease is then dropped, as a new row
/// would have none). Deleting and re-inserting every row of an updated case instead wrote
/// each of the deadline table's six indexes twice per deadline even when nothing changed:
/// SQLite copies each touched page to the WAL, PostgreSQL adds an index entry per new row
/// version. `IS DISTINCT FROM` is SQL standard; SQLite has it since 3.39.
pub(crate) const UPSERT_DEADLINES: &str = " ON CONFLICT (tenant_id, case_id, position) \
     DO UPDATE SET shop_id = excluded.shop_id, platform = excluded.platform, \
     key = excluded.key, rule_id = excluded.rule_id, due_party = excluded.due_party, \
     due_at = excluded.due_at, remind_at = excluded.remind_at, \
     reminded_at = excluded.reminded_at, consequence = excluded.consequence, \
     source = excluded.source, state = excluded.state, lease_owner = NULL, lease_until = NULL \
     WHERE deadlines.lease_owner IS NOT NULL OR deadlines.lease_until IS NOT NULL \
     OR deadlines.shop_id IS DISTINCT FROM excluded.shop_id \
     OR deadlines.platform IS DISTINCT FROM excluded.platform \
     OR deadlines.key IS DISTINCT FROM excluded.key \
     OR deadlines.rule_id IS DISTINCT FROM excluded.rule_id \
     OR deadlines.due_party IS DISTINCT FROM excluded.due_party \
     OR deadlines.due_at IS DISTINCT FROM excluded.due_at \
     OR deadlines.remind_at IS DISTINCT FROM excluded.remind_at \
     OR deadlines.reminded_at IS DISTINCT FROM excluded.reminded_at \
     OR deadlines.consequence IS DISTINCT FROM excluded.consequence \
     OR deadlines.source IS DISTINCT FROM excluded.source \
     OR deadlines.state IS DISTINCT FROM excluded.state";

/// Adds `$2` to the tenant's counter and returns the new last seq. The counter row then stays
/// locked until commit (Postgres; SQLite holds the whole database write lock), so a write
/// that gets a later seq also commits later: seq order is commit order per tenant. Run it
/// after the case row is written, so the lock every writer of the tenant queues on is held
/// only for the last insert and the commit.
pub(crate) const BUMP_EVENT_COUNTER: &str = "INSERT INTO tenant_event_counters (tenant_id, last_seq) \
     VALUES ($1, $2) \
     ON CONFLICT (tenant_id) DO UPDATE SET last_seq = tenant_event_counters.last_seq + excluded.last_seq \
     RETURNING last_seq";

/// Followed by `VALUES (…), (…)`, one tuple per [`EventColumns`].
pub(crate) const INSERT_EVENTS: &str = "INSERT INTO case_events \
     (tenant_id, seq, case_id, kind, actor_kind, actor_id, from_state, to_state, detail, \
      occurred_at, shop_id, recorded_by, api_key_id) ";

pub(crate) const SELECT_CASE_EVENTS: &str = "SELECT tenant_id, seq, case_id, kind, actor_kind, \
     actor_id, from_state, to_state, detail, occurred_at, recorded_by, api_key_id \
     FROM case_events \
     WHERE tenant_id = $1 AND case_id = $2 AND seq > $3 ORDER BY seq LIMIT $4";

/// The start of the tenant feed query; the caller appends the tenant, an optional shop list
/// (served by `case_events_by_shop`), the cursor and the order.
pub(crate) const SELECT_TENANT_EVENTS: &str = "SELECT tenant_id, seq, case_id, kind, actor_kind, \
     actor_id, from_state, to_state, detail, occurred_at, recorded_by, api_key_id \
     FROM case_events";

/// The start of the ListCases query; [`case_list_query`] appends the filters.
pub(crate) const LIST_CASES: &str = "SELECT tenant_id, id, body FROM cases";

/// [`LIST_CASES`] for ListCases' answer ([`decode_case_read`]): the views, and the bodies of
/// only the cases whose view will not do — a page of bodies beside their views cost
/// PostgreSQL half again as much to send. Followed by the format in force (NULL if none: then
/// every body), then [`LIST_CASE_READS_END`].
const LIST_CASE_READS: &str = "SELECT shop_id, platform, kind, version, \
     api_view_version, api_view_format, api_view, tenant_id, id, \
     CASE WHEN api_view_version = version AND api_view_format = ";
const LIST_CASE_READS_END: &str = " THEN NULL ELSE body END AS body FROM cases";

/// A page of a tenant's cases: the filters of `query`, ordered by id after `after_id`. Served
/// by the `cases_by_*` index each filter leads with; one text per set of filters present, so a
/// prepared-statement cache holds a few shapes, not one per value.
pub(crate) fn case_list_query<'a>(
    tenant: &'a TenantId,
    query: &'a crate::CaseQuery,
) -> Statement<'a> {
    push_case_page_conditions(Statement::new(LIST_CASES), tenant, query)
}

/// [`case_list_query`] for ListCases' answer: [`LIST_CASE_READS`].
pub(crate) fn case_read_page_query<'a>(
    tenant: &'a TenantId,
    query: &'a crate::CaseQuery,
) -> Statement<'a> {
    let mut q = Statement::new(LIST_CASE_READS);
    q.push_bind(case_view::format_in_force())
        .push(LIST_CASE_READS_END);
    push_case_page_conditions(q, tenant, query)
}

/// The WHERE, ORDER BY and LIMIT of a page of cases.
fn push_case_page_conditions<'a>(
    mut q: Statement<'a>,
    tenant: &'a TenantId,
    query: &'a crate::CaseQuery,
) -> Statement<'a> {
    q.push(" WHERE tenant_id = ").push_bind(tenant.as_str());
    if let Some(p) = &query.platform {
        q.push(" AND platform = ").push_bind(p.as_str());
    }
    if let Some(s) = &query.shop {
        q.push(" AND shop_id = ").push_bind(s.as_str());
    }
    if !query.shops.is_empty() {
        let mut sep = " AND shop_id IN (";
        for shop in &query.shops {
            q.push(sep).push_bind(shop.as_str());
            sep = ", ";
        }
        q.push(")");
    }
    if let Some(k) = query.kind {
        q.push(" AND kind = ").push_bind(k.as_str());
    }
    if let Some(s) = query.state {
        q.push(" AND state = ").push_bind(s.as_str());
    }
    if let Some(t) = query.next_deadline_before {
        q.push(" AND next_deadline_at < ").push_bind(to_millis(t));
    }
    if let Some(t) = query.next_deadline_after {
        q.push(" AND next_deadline_at > ").push_bind(to_millis(t));
    }
    if let Some(t) = query.updated_after {
        q.push(" AND updated_at > ").push_bind(to_millis(t));
    }
    if query.needs_refresh {
        q.push(" AND needs_refresh = 1");
    }
    if let Some(s) = query.satisfaction {
        q.push(" AND satisfaction = ").push_bind(s.as_str());
    }
    if let Some(id) = &query.after_id {
        q.push(" AND id > ").push_bind(id.as_str());
    }
    q.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(query.limit));
    q
}

/// cases_by_ids is `CASES_BY_IDS`, `VALUES (tenant_id, id), …`, then `CASES_BY_IDS_ON`. A join
/// with a VALUES list: SQLite takes row values on the right of IN only from a subquery, and
/// plans `(tenant_id, id) IN (VALUES …)` as a full scan, where the join is a primary-key
/// lookup per key on both backends. Both name VALUES columns `column1`, `column2`, ….
pub(crate) const CASES_BY_IDS: &str = "SELECT c.tenant_id, c.id, c.body FROM (";
pub(crate) const CASES_BY_IDS_ON: &str =
    ") AS k JOIN cases c ON c.tenant_id = k.column1 AND c.id = k.column2";

/// Keys per cases_by_ids or release_timers statement: far below either backend's bind limit
/// (SQLite 32766, Postgres 65535), and a sweep batch fits in one.
pub(crate) const KEYS_PER_STATEMENT: usize = 500;

/// Rows per multi-row INSERT of a batch: 256 × 14 binds stays far below either backend's
/// bind limit.
pub(crate) const ROWS_PER_STATEMENT: usize = 256;

/// Rows a multi-row statement of a batch takes as they come: up to this many, the statement
/// has exactly the batch's rows (one statement per table for a batch this size).
const EXACT_ROWS: usize = 16;

/// `items` in chunks for multi-row statements: `max` at a time, then powers of two down to
/// [`EXACT_ROWS`], then the rest in one (100 with a max of 256: 64, 32, 4). A statement's
/// text depends on its row count and the drivers cache a prepared statement per text: this
/// way a table gets at most 21 texts however batches vary (the writers keep 256 prepared
/// statements per connection, enough for the batch's six multi-row statements in all their
/// sizes), while a batch of up to 16 writes needs one statement per table.
pub(crate) fn row_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> + '_ {
    debug_assert!(max.is_power_of_two() && max >= EXACT_ROWS);
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if rest.len() >= max {
            max
        } else if rest.len() <= EXACT_ROWS {
            rest.len()
        } else {
            1 << (usize::BITS - 1 - rest.len().leading_zeros())
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// Expiries due by `$3` and not leased past it, earliest first, at most `$4`. The
/// `state = 'active'` term repeats the predicate of `deadlines_active_due` so that partial
/// index can serve the search and the order.
pub(crate) const SELECT_DUE_EXPIRIES: &str = "SELECT tenant_id, case_id, position \
     FROM deadlines \
     WHERE state = 'active' AND due_at <= $3 \
       AND (lease_until IS NULL OR lease_until <= $3) \
     ORDER BY due_at LIMIT $4";

/// Reminders due by `$3`, not sent, whose deadline has not passed yet (a passed one is an
/// expiry instead), not leased past `$3`; earliest first, at most `$4`. `state = 'active' AND
/// reminded_at IS NULL` repeats the predicate of `deadlines_pending_reminder` so that partial
/// index can serve the search and the order.
pub(crate) const SELECT_DUE_REMINDERS: &str = "SELECT tenant_id, case_id, position \
     FROM deadlines \
     WHERE state = 'active' AND reminded_at IS NULL AND remind_at <= $3 AND due_at > $3 \
       AND (lease_until IS NULL OR lease_until <= $3) \
     ORDER BY remind_at LIMIT $4";

/// Lease the rows a due-timer select picks to `$1` until `$2`, in one statement so no other
/// sweeper can take them in between. `lock` goes after the select: Postgres needs
/// `FOR UPDATE SKIP LOCKED` so concurrent claims pass over each other's rows instead of
/// waiting and then taking them too; SQLite has one writer, so the statement alone suffices.
/// Returns `tenant_id, case_id, position, at`.
pub(crate) fn claim_timers(kind: TimerKind, lock: &str) -> String {
    let (select, at) = match kind {
        TimerKind::Expiry => (SELECT_DUE_EXPIRIES, "due_at"),
        TimerKind::Reminder => (SELECT_DUE_REMINDERS, "remind_at"),
    };
    format!(
        "UPDATE deadlines SET lease_owner = $1, lease_until = $2 \
         WHERE (tenant_id, case_id, position) IN ({select}{lock}) \
         RETURNING tenant_id, case_id, position, {at} AS at"
    )
}

/// release_timers is `RELEASE_TIMERS`, `VALUES (tenant_id, case_id, position), …`, then
/// `RELEASE_TIMERS_WHERE` and the owner: a join for the reason given at [`CASES_BY_IDS`]. Only
/// the owner's own leases are dropped, so a sweeper whose lease ran out (and another took the
/// row) cannot free the new holder's claim.
pub(crate) const RELEASE_TIMERS: &str =
    "UPDATE deadlines SET lease_owner = NULL, lease_until = NULL FROM (";
pub(crate) const RELEASE_TIMERS_WHERE: &str = ") AS k \
     WHERE deadlines.tenant_id = k.column1 AND deadlines.case_id = k.column2 \
       AND deadlines.position = k.column3 AND deadlines.lease_owner = ";

/// Two minima rather than one over both columns, so each is a single step down its partial
/// index (`deadlines_active_due`, `deadlines_pending_reminder`, whose predicates the WHERE
/// clauses repeat). Leases are ignored: a leased timer is still pending work.
pub(crate) const NEXT_TIMER_AT: &str = "SELECT \
     (SELECT MIN(due_at) FROM deadlines WHERE state = 'active') AS due_at, \
     (SELECT MIN(remind_at) FROM deadlines \
      WHERE state = 'active' AND reminded_at IS NULL) AS remind_at";

/// The states a case can still leave, as the SQL list the `cases_open_by_platform_state`
/// partial index is defined with (migrations/*/20261126000001_gauges.sql). The query repeats
/// it word for word: SQLite uses a partial index only when the query's WHERE contains its
/// predicate term as written. A store test checks it against `CaseState::is_resolved`.
macro_rules! open_states {
    () => {
        "('awaiting_merchant', 'awaiting_buyer', 'return_in_transit', \
         'awaiting_merchant_execution', 'platform_intervening', 'follow_up_pending')"
    };
}

pub const OPEN_STATES_SQL: &str = open_states!();

/// Open cases per platform and state, from `cases_open_by_platform_state` alone.
pub const GAUGE_OPEN_CASES: &str = concat!(
    "SELECT platform, state, COUNT(*) AS n FROM cases WHERE state IN ",
    open_states!(),
    " GROUP BY platform, state"
);

/// Active deadlines per platform, those due by `$1` counted apart, from
/// `deadlines_active_by_platform` alone. `platform` is NULL only on rows no write has touched
/// since the column was added (none after the timer migration's backfill).
pub const GAUGE_DEADLINES: &str = "SELECT COALESCE(platform, '') AS platform, \
     SUM(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END) AS overdue, COUNT(*) AS n \
     FROM deadlines WHERE state = 'active' GROUP BY platform";

/// The start of the ListDueDeadlines query; the caller appends ` WHERE d.tenant_id = `, the
/// filters and the order. `d.state = 'active'` in the WHERE lets it use `deadlines_queue`
/// (or `deadlines_queue_by_shop` with a shop filter).
pub(crate) const LIST_DUE_DEADLINES: &str = "SELECT d.position, c.tenant_id, c.id, c.body \
     FROM deadlines d JOIN cases c ON c.tenant_id = d.tenant_id AND c.id = d.case_id";

// ---------------------------------------------------------------------------------------------
// Domain values as columns

/// ` AND column IN (…)` for a shop-scoped caller; nothing when `shops` is empty (no limit).
pub(crate) fn push_shops<'args, DB>(
    q: &mut sqlx::QueryBuilder<'args, DB>,
    column: &str,
    shops: &[ShopId],
) where
    DB: sqlx::Database,
    String: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    if shops.is_empty() {
        return;
    }
    q.push(" AND ").push(column).push(" IN (");
    let mut list = q.separated(", ");
    for shop in shops {
        list.push_bind(shop.as_str().to_string());
    }
    list.push_unseparated(")");
}

/// `api_keys.shops`: NULL for every shop, else a JSON array.
pub(crate) fn shops_column(scope: &ShopScope) -> Option<String> {
    match scope {
        ShopScope::AllShops => None,
        ShopScope::Only(shops) => Some(
            serde_json::Value::from(shops.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                .to_string(),
        ),
    }
}

/// The indexed columns of a case row, ready to bind.
pub(crate) struct CaseColumns<'a> {
    pub tenant_id: &'a str,
    pub id: &'a str,
    pub shop_id: &'a str,
    pub platform: &'a str,
    pub platform_case_id: Option<&'a str>,
    pub kind: &'static str,
    pub state: &'static str,
    pub next_deadline_at: Option<i64>,
    pub platform_version: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub order_id: Option<&'a str>,
    pub sub_order_id: Option<&'a str>,
    pub needs_refresh: i64,
    pub body: String,
    /// NULL while open (Case::satisfaction_status).
    pub satisfaction: Option<&'static str>,
    /// The API's rendering of this version of the case (crate::case_view), if this process
    /// renders one.
    pub view: Option<ViewColumns>,
}

impl<'a> CaseColumns<'a> {
    pub fn new(case: &'a Case) -> Result<Self, StoreError> {
        let body = serde_json::to_string(case)
            .map_err(|e| StoreError::Database(format!("cannot encode case {}: {e}", case.id)))?;
        Ok(CaseColumns {
            tenant_id: case.tenant.as_str(),
            id: case.id.as_str(),
            shop_id: case.shop.as_str(),
            platform: case.platform.as_str(),
            platform_case_id: case.platform_case_id.as_ref().map(|p| p.as_str()),
            kind: case.kind.as_str(),
            state: case.state.as_str(),
            next_deadline_at: case.next_deadline_at().map(to_millis),
            platform_version: case.platform_version,
            version: case.version,
            created_at: to_millis(case.created_at),
            updated_at: to_millis(case.updated_at),
            order_id: case.order_id.as_ref().map(|o| o.as_str()),
            sub_order_id: case.sub_order_id.as_ref().map(|o| o.as_str()),
            needs_refresh: i64::from(case.needs_refresh.is_some()),
            body,
            satisfaction: case.satisfaction_status().map(|s| s.as_str()),
            view: ViewColumns::of(case),
        })
    }

    /// The values in the column order `INSERT_CASE`, `INSERT_CASE_ROWS` and `UPDATE_CASE`
    /// share: one list, so a column added to the statements cannot be bound in a different
    /// order in one of the places that write case rows.
    pub fn values(&self) -> [crate::batch::Value<'_>; 20] {
        [
            self.tenant_id.into(),
            self.id.into(),
            self.shop_id.into(),
            self.platform.into(),
            self.platform_case_id.into(),
            self.kind.into(),
            self.state.into(),
            self.next_deadline_at.into(),
            self.platform_version.into(),
            self.version.into(),
            self.created_at.into(),
            self.updated_at.into(),
            self.order_id.into(),
            self.sub_order_id.into(),
            self.needs_refresh.into(),
            self.body.as_str().into(),
            self.satisfaction.into(),
            self.view.as_ref().map(|v| v.view.as_slice()).into(),
            self.view.as_ref().map(|v| v.format).into(),
            self.view.as_ref().map(|_| self.version).into(),
        ]
    }
}

/// One row of the deadline mirror, in [`INSERT_DEADLINES`] column order after tenant and
/// case id.
pub(crate) struct DeadlineColumns<'a> {
    pub position: i64,
    pub shop_id: &'a str,
    pub platform: &'a str,
    pub key: &'a str,
    pub rule_id: &'a str,
    pub due_party: &'static str,
    pub due_at: i64,
    pub remind_at: Option<i64>,
    pub reminded_at: Option<i64>,
    pub consequence: &'static str,
    pub source: &'static str,
    pub state: &'static str,
}

impl<'a> DeadlineColumns<'a> {
    pub fn new(case: &'a Case, position: usize, d: &'a Deadline) -> Self {
        DeadlineColumns {
            position: position as i64,
            shop_id: case.shop.as_str(),
            platform: case.platform.as_str(),
            key: &d.key,
            rule_id: &d.rule_id,
            due_party: due_party_str(d.due_party),
            due_at: to_millis(d.due_at),
            remind_at: d.remind_at.map(to_millis),
            reminded_at: d.reminded_at.map(to_millis),
            consequence: d.consequence.as_str(),
            source: deadline_source_str(d.source),
            state: d.state.as_str(),
        }
    }
}

// Spelled out rather than derived from serde so a renamed variant cannot silently change what
// the deadline sweep matches on; the strings equal the serde (snake_case) names.
pub(crate) fn due_party_str(p: DueParty) -> &'static str {
    match p {
        DueParty::Merchant => "merchant",
        DueParty::Buyer => "buyer",
        DueParty::Platform => "platform",
    }
}

fn deadline_source_str(s: DeadlineSource) -> &'static str {
    match s {
        DeadlineSource::Policy => "policy",
        DeadlineSource::Platform => "platform",
        DeadlineSource::Facts => "facts",
    }
}

/// One event row, with the seq the counter handed out.
pub(crate) struct EventColumns<'a> {
    pub seq: i64,
    pub kind: &'static str,
    pub actor_kind: &'static str,
    pub actor_id: &'a str,
    pub from_state: Option<&'static str>,
    pub to_state: Option<&'static str>,
    pub detail: String,
    pub occurred_at: i64,
}

impl<'a> EventColumns<'a> {
    pub fn new(seq: i64, e: &'a NewEvent) -> Self {
        EventColumns {
            seq,
            kind: e.kind.as_str(),
            actor_kind: e.actor.kind.as_str(),
            actor_id: &e.actor.id,
            from_state: e.from_state.map(CaseState::as_str),
            to_state: e.to_state.map(CaseState::as_str),
            // A `serde_json::Value` always serialises.
            detail: e.detail.to_string(),
            occurred_at: to_millis(e.occurred_at),
        }
    }
}

/// The events of a write as the store returns them.
pub(crate) fn stored_events(
    case: &Case,
    first_seq: i64,
    events: &[NewEvent],
    caller: Option<&Caller>,
) -> Vec<StoredEvent> {
    events
        .iter()
        .zip(first_seq..)
        .map(|(e, seq)| StoredEvent {
            seq,
            tenant: case.tenant.clone(),
            case_id: case.id.clone(),
            kind: e.kind.as_str().to_string(),
            actor: e.actor.clone(),
            from_state: e.from_state,
            to_state: e.to_state,
            detail: e.detail.clone(),
            occurred_at: e.occurred_at,
            recorded_by: caller.cloned(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Column access with the few types both drivers decode, so decoding is written once. Errors
/// are sqlx's message, which names the column.
pub(crate) trait SqlRow {
    fn int(&self, col: &str) -> Result<i64, String>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, String>;
    fn text(&self, col: &str) -> Result<String, String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, String>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, String>;
}

macro_rules! impl_sql_row {
    ($($row:ty),*) => {$(
        impl SqlRow for $row {
            fn int(&self, col: &str) -> Result<i64, String> {
                sqlx::Row::try_get(self, col).map_err(|e| e.to_string())
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, String> {
                sqlx::Row::try_get(self, col).map_err(|e| e.to_string())
            }
            fn text(&self, col: &str) -> Result<String, String> {
                sqlx::Row::try_get(self, col).map_err(|e| e.to_string())
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, String> {
                sqlx::Row::try_get(self, col).map_err(|e| e.to_string())
            }
            fn bytes(&self, col: &str) -> Result<Vec<u8>, String> {
                sqlx::Row::try_get(self, col).map_err(|e| e.to_string())
            }
        }
    )*};
}

impl_sql_row!(sqlx::sqlite::SqliteRow, sqlx::postgres::PgRow);

fn corrupt(table: &str, key: &str, what: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{table} row {key}: {what}"))
}

/// A row's key for error messages, from whatever of it can still be read.
fn row_key<R: SqlRow>(row: &R, text_cols: &[&str], int_cols: &[&str]) -> String {
    let texts = text_cols
        .iter()
        .map(|c| format!("{c}={}", row.text(c).unwrap_or_else(|_| "?".into())));
    let ints = int_cols.iter().map(|c| {
        format!(
            "{c}={}",
            row.int(c).map_or_else(|_| "?".into(), |v| v.to_string())
        )
    });
    texts.chain(ints).collect::<Vec<_>>().join(" ")
}

fn parse<T: std::str::FromStr>(col: &str, raw: String) -> Result<T, String>
where
    T::Err: Display,
{
    raw.parse().map_err(|e| format!("{col}: {e}"))
}

/// Columns `tenant_id, id, body`.
pub(crate) fn decode_health<R: SqlRow>(
    row: &R,
) -> Result<aftersales_domain::health::CaseHealthFacts, StoreError> {
    use aftersales_domain::satisfaction::SatisfactionStatus;
    let inner = || -> Result<aftersales_domain::health::CaseHealthFacts, String> {
        let state: aftersales_domain::CaseState = row.text("state")?.parse()?;
        let kind = row.text("kind")?;
        Ok(aftersales_domain::health::CaseHealthFacts {
            platform: row.text("platform")?,
            shop: row.text("shop_id")?,
            state,
            created_at: from_millis(row.int("created_at")?),
            intervened: row.int("intervened")? > 0,
            disputed: kind == aftersales_domain::CaseKind::Dispute.as_str()
                || row.int("ruled")? > 0,
            deadline_fired: row.int("expired")? > 0,
            first_response_at: row.opt_int("first_response")?.map(from_millis),
            satisfaction: match row.opt_text("satisfaction")? {
                None => None,
                Some(raw) => Some(
                    SatisfactionStatus::parse(&raw)
                        .ok_or_else(|| format!("satisfaction: unknown {raw:?}"))?,
                ),
            },
        })
    };
    inner().map_err(|e| StoreError::Corrupt(format!("case health row: {e}")))
}

pub(crate) fn decode_case<R: SqlRow>(row: &R) -> Result<Case, StoreError> {
    row.text("body")
        .and_then(|body| case_of_body(row, &body))
        .map_err(|e| corrupt("cases", &row_key(row, &["tenant_id", "id"], &[]), e))
}

/// A row of [`SELECT_VIEWS_TO_REFRESH`]: the case where the page sent its body (its view
/// is stale), None where it did not.
pub(crate) fn decode_stale_case<R: SqlRow>(row: &R) -> Result<Option<Case>, StoreError> {
    row.opt_text("body")
        .and_then(|body| body.map(|body| case_of_body(row, &body)).transpose())
        .map_err(|e| corrupt("cases", &row_key(row, &["tenant_id", "id"], &[]), e))
}

/// A view the pass rendered again, with the row it belongs to.
pub(crate) struct RefreshedView {
    pub tenant: String,
    pub id: String,
    /// The row version it renders, which the row must still have when it is stored.
    pub version: i64,
    pub view: ViewColumns,
}

/// What a page of the pass read, rendered again.
pub(crate) struct RefreshedPage {
    pub views: Vec<RefreshedView>,
    /// The key (tenant, id) of the page's last row, where the next page begins; None for
    /// no rows.
    pub last: Option<(String, String)>,
}

/// Rows of [`SELECT_VIEWS_TO_REFRESH`]: the views to store again, rendered from the bodies
/// the page sent. A body that does not decode fails every read of its case already; it is
/// logged and skipped, so that the pass does not stop at it for every case after.
pub(crate) fn refreshed_views<R: SqlRow>(rows: &[R]) -> Result<RefreshedPage, StoreError> {
    let mut views = Vec::new();
    let mut last = None;
    for row in rows {
        let key = || -> Result<(String, String, i64), String> {
            Ok((row.text("tenant_id")?, row.text("id")?, row.int("version")?))
        };
        let (tenant, id, version) =
            key().map_err(|e| StoreError::Corrupt(format!("cases row in the view pass: {e}")))?;
        match decode_stale_case(row) {
            Ok(None) => {}
            Ok(Some(case)) => {
                if let Some(view) = ViewColumns::of(&case) {
                    views.push(RefreshedView {
                        tenant: tenant.clone(),
                        id: id.clone(),
                        version,
                        view,
                    });
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                "the case view pass skips a case whose body does not decode"
            ),
        }
        last = Some((tenant, id));
    }
    Ok(RefreshedPage { views, last })
}

fn case_of_body<R: SqlRow>(row: &R, body: &str) -> Result<Case, String> {
    let case: Case = serde_json::from_str(body).map_err(|e| format!("body: {e}"))?;
    // The body is the truth, but it must be the body of this row.
    if case.tenant.as_str() != row.text("tenant_id")? || case.id.as_str() != row.text("id")? {
        return Err(format!(
            "body belongs to tenant {} case {}",
            case.tenant, case.id
        ));
    }
    Ok(case)
}

/// A row of [`SELECT_CASE_VIEW`] or of a [`case_read_page_query`]: its view if that is
/// current, else the case from its body (which the page's query sends only then).
pub(crate) fn decode_case_read<R: SqlRow>(row: &R) -> Result<CaseRead, StoreError> {
    let current = || -> Result<Option<StoredView>, String> {
        let version = row.int("version")?;
        if !case_view::is_current(
            version,
            row.opt_int("api_view_version")?,
            row.opt_int("api_view_format")?,
        ) {
            return Ok(None);
        }
        Ok(Some(StoredView {
            id: CaseId::parse(row.text("id")?).map_err(|e| e.to_string())?,
            shop: ShopId::parse(row.text("shop_id")?).map_err(|e| e.to_string())?,
            platform: PlatformCode::parse(row.text("platform")?).map_err(|e| e.to_string())?,
            kind: row
                .text("kind")?
                .parse()
                .map_err(|e| format!("kind: {e}"))?,
            bytes: row.bytes("api_view")?,
        }))
    };
    match current() {
        Ok(Some(view)) => Ok(CaseRead::View(view)),
        Ok(None) => decode_case(row).map(|case| CaseRead::Case(Box::new(case))),
        Err(e) => Err(corrupt(
            "cases",
            &row_key(row, &["tenant_id", "id"], &[]),
            e,
        )),
    }
}

/// Columns `tenant_id, case_id, position, at` of a claim.
pub(crate) fn decode_claimed_timer<R: SqlRow>(
    row: &R,
    kind: TimerKind,
) -> Result<ClaimedTimer, StoreError> {
    let inner = || -> Result<ClaimedTimer, String> {
        let position = row.int("position")?;
        Ok(ClaimedTimer {
            tenant: TenantId::parse(row.text("tenant_id")?).map_err(|e| e.to_string())?,
            case_id: CaseId::parse(row.text("case_id")?).map_err(|e| e.to_string())?,
            position: u32::try_from(position)
                .map_err(|_| format!("position {position} is out of range"))?,
            kind,
            at: from_millis(row.int("at")?),
        })
    };
    inner().map_err(|e| {
        let key = row_key(row, &["tenant_id", "case_id"], &["position"]);
        corrupt("deadlines", &key, e)
    })
}

/// Columns `position, tenant_id, id, body`: the deadline is read from the case body (the
/// truth), at the index the mirror row names, and must be the active one the row says it is.
pub(crate) fn decode_due_deadline<R: SqlRow>(row: &R) -> Result<DueDeadline, StoreError> {
    let case = decode_case(row)?;
    let inner = || -> Result<(u32, Deadline), String> {
        let position = row.int("position")?;
        let deadline = usize::try_from(position)
            .ok()
            .and_then(|i| case.deadlines.get(i))
            .ok_or_else(|| {
                format!(
                    "the case has {} deadlines, none at this position",
                    case.deadlines.len()
                )
            })?;
        if !deadline.is_active() {
            return Err(format!(
                "the row is active but the case's deadline is {}",
                deadline.state.as_str()
            ));
        }
        let position =
            u32::try_from(position).map_err(|_| format!("position {position} is out of range"))?;
        Ok((position, deadline.clone()))
    };
    let (position, deadline) = inner().map_err(|e| {
        let key = format!(
            "tenant_id={} case_id={} {}",
            case.tenant,
            case.id,
            row_key(row, &[], &["position"])
        );
        corrupt("deadlines", &key, e)
    })?;
    Ok(DueDeadline {
        tenant: case.tenant.clone(),
        case_id: case.id.clone(),
        shop: case.shop.clone(),
        platform: case.platform.clone(),
        position,
        deadline,
    })
}

/// The gauge queries' rows as [`GaugeCounts`](crate::GaugeCounts), sorted.
pub(crate) fn gauge_counts(
    cases: Vec<(String, String, i64)>,
    deadlines: Vec<(String, i64, i64)>,
) -> Result<crate::GaugeCounts, StoreError> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut open_cases = cases
        .into_iter()
        .map(|(platform, state, n)| {
            let state = state
                .parse::<CaseState>()
                .map_err(|e| corrupt("cases", &platform, e))?;
            Ok(crate::OpenCaseCount {
                platform,
                state,
                count: count(n),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    open_cases.sort();
    let mut deadlines: Vec<_> = deadlines
        .into_iter()
        .map(|(platform, overdue, n)| crate::ActiveDeadlineCount {
            platform,
            due: count(n - overdue),
            overdue: count(overdue),
        })
        .collect();
    deadlines.sort();
    Ok(crate::GaugeCounts {
        open_cases,
        deadlines,
    })
}

pub(crate) fn decode_event<R: SqlRow>(row: &R) -> Result<StoredEvent, StoreError> {
    let inner = || -> Result<StoredEvent, String> {
        let state = |col: &str| row.opt_text(col)?.map(|s| parse(col, s)).transpose();
        let actor_kind = row.text("actor_kind")?;
        Ok(StoredEvent {
            seq: row.int("seq")?,
            tenant: TenantId::parse(row.text("tenant_id")?).map_err(|e| e.to_string())?,
            case_id: CaseId::parse(row.text("case_id")?).map_err(|e| e.to_string())?,
            kind: row.text("kind")?,
            actor: Actor {
                kind: ActorKind::parse(&actor_kind)
                    .ok_or_else(|| format!("unknown actor kind {actor_kind:?}"))?,
                id: row.text("actor_id")?,
            },
            from_state: state("from_state")?,
            to_state: state("to_state")?,
            detail: serde_json::from_str(&row.text("detail")?)
                .map_err(|e| format!("detail: {e}"))?,
            occurred_at: from_millis(row.int("occurred_at")?),
            recorded_by: match (row.opt_text("recorded_by")?, row.opt_text("api_key_id")?) {
                (Some(account), Some(key_id)) => Some(Caller { account, key_id }),
                (None, None) => None,
                _ => return Err("recorded_by and api_key_id must be set together".into()),
            },
        })
    };
    inner().map_err(|e| corrupt("case_events", &row_key(row, &["tenant_id"], &["seq"]), e))
}

pub(crate) fn decode_idempotency<R: SqlRow>(
    row: &R,
    tenant: &TenantId,
) -> Result<IdempotencyRecord, StoreError> {
    let inner = || -> Result<IdempotencyRecord, String> {
        Ok(IdempotencyRecord {
            request_id: row.text("request_id")?,
            method: row.text("method")?,
            fingerprint: row.text("fingerprint")?,
            response: row.bytes("response")?,
            created_at: from_millis(row.int("created_at")?),
        })
    };
    inner().map_err(|e| {
        let key = format!("tenant_id={tenant} {}", row_key(row, &["request_id"], &[]));
        corrupt("idempotency_keys", &key, e)
    })
}

pub(crate) fn decode_api_key<R: SqlRow>(row: &R) -> Result<ApiKeyRecord, StoreError> {
    let inner = || -> Result<ApiKeyRecord, String> {
        let platform_task = match row.int("platform_task")? {
            0 => false,
            1 => true,
            other => return Err(format!("platform_task is {other}, not 0 or 1")),
        };
        let shops = match row.opt_text("shops")? {
            None => ShopScope::AllShops,
            Some(json) => {
                let shops: Vec<ShopId> =
                    serde_json::from_str(&json).map_err(|e| format!("shops: {e}"))?;
                if shops.is_empty() {
                    return Err("shops is an empty list".into());
                }
                ShopScope::Only(shops)
            }
        };
        Ok(ApiKeyRecord {
            key_id: row.text("key_id")?,
            tenant: TenantId::parse(row.text("tenant_id")?).map_err(|e| e.to_string())?,
            account: row.text("account")?,
            role: parse("role", row.text("role")?)?,
            platform_task,
            shops,
            secret_hash: row.text("secret_hash")?,
            created_at: from_millis(row.int("created_at")?),
            created_by: row.text("created_by")?,
            revoked_at: row.opt_int("revoked_at")?.map(from_millis),
            expires_at: row.opt_int("expires_at")?.map(from_millis),
            replaced_by: row.opt_text("replaced_by")?,
        })
    };
    inner().map_err(|e| corrupt("api_keys", &row_key(row, &["key_id"], &[]), e))
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The constraint (Postgres) or message (SQLite, which names the columns) of a unique
/// violation, or None for any other error.
pub(crate) fn unique_violation(err: &sqlx::Error) -> Option<String> {
    let db = err.as_database_error()?;
    if db.kind() != sqlx::error::ErrorKind::UniqueViolation {
        return None;
    }
    Some(db.constraint().unwrap_or(db.message()).to_string())
}

/// Map a driver error; `unavailable_code` says which database error codes of this backend
/// mean "cannot serve right now" rather than "this statement is wrong".
pub(crate) fn classify(err: sqlx::Error, unavailable_code: fn(&str) -> bool) -> StoreError {
    use sqlx::Error as E;
    match &err {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
            StoreError::Unavailable(err.to_string())
        }
        E::Database(db) if db.code().is_some_and(|c| unavailable_code(&c)) => {
            StoreError::Unavailable(err.to_string())
        }
        _ => StoreError::Database(err.to_string()),
    }
}

pub(crate) fn migrate_error(
    err: sqlx::migrate::MigrateError,
    unavailable_code: fn(&str) -> bool,
) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    match err {
        M::Execute(e) => classify(e, unavailable_code),
        M::ExecuteMigration(e, version) => match classify(e, unavailable_code) {
            StoreError::Database(msg) => {
                StoreError::Database(format!("migration {version}: {msg}"))
            }
            other => other,
        },
        other => StoreError::Database(format!("migrations: {other}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The shared `Store` implementation

/// A connection a read borrows from the pool, which checks it when it comes back: any result
/// leaves it fit to return.
pub(crate) struct PooledRead<DB: sqlx::Database>(pub(crate) sqlx::pool::PoolConnection<DB>);

impl<DB: sqlx::Database> PooledRead<DB> {
    pub(crate) fn settle<T>(self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        result
    }
}

impl<DB: sqlx::Database> std::ops::Deref for PooledRead<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.0
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for PooledRead<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.0
    }
}

/// One read statement on a connection from the store's `read_connection()`: `c` is the
/// connection, the expression the statement's future. The connection is settled with the
/// result (see [`crate::postgres_read`]); driver errors become [`StoreError`]s. Used inside
/// [`impl_store`], where `Self::error` classifies them.
macro_rules! read {
    ($store:expr, |$c:ident| $statement:expr) => {{
        let mut connection = $store.read_connection().await.map_err(Self::error)?;
        let result = {
            let $c = &mut *connection;
            $statement.await
        };
        connection.settle(result).map_err(Self::error)
    }};
}
pub(crate) use read;

/// Expands `impl Store for $store`. The type must provide:
/// - `async fn read_connection(&self) -> Result<C, sqlx::Error>` for reads, where `C`
///   dereferences to the driver's connection and has `settle` (see [`read`]),
/// - `fn direct_reader(&self) -> Option<&DirectReader>` for the hot reads (a case, a page of
///   cases, the reads every write makes first) when the backend can serve them without sqlx
///   (see [`crate::sqlite_read`]),
/// - `fn grouped_case_reads(&self) -> Option<&GroupedCaseReads>` for the lookup of one case
///   by id or by platform id, and `fn grouped_request_reads(&self) ->
///   Option<&GroupedRequestReads>` for a stored request's, when the backend groups concurrent
///   ones into one statement (see [`crate::postgres_grouped_reads`]),
/// - `fn writer(&self) -> &sqlx::Pool<$db>` for writes other than case writes,
/// - `fn group(&self) -> &GroupCommit` for case writes (see [`crate::batch`]),
/// - `fn error(err: sqlx::Error) -> StoreError` to classify driver errors.
///
/// `$backend` is what `Store::backend` returns; `$system` is the OpenTelemetry `db.system`;
/// `$lock` is the row-locking clause the timer claim's select ends with (see
/// [`claim_timers`]); `$claim_setup` is a statement run first in the claim's transaction, or
/// empty.
macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal, $system:literal, $lock:literal, $claim_setup:expr) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, key_id = %key.key_id))]
            async fn insert_api_key(&self, key: &$crate::ApiKeyRecord) -> Result<(), $crate::StoreError> {
                $crate::sql::insert_api_key!($db, key)
                    .execute(self.writer())
                    .await
                    .map_err(|e| match $crate::sql::unique_violation(&e) {
                        Some(_) => $crate::StoreError::AlreadyExists { what: format!("api key {}", key.key_id) },
                        None => Self::error(e),
                    })?;
                Ok(())
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, key_id = %key_id))]
            async fn api_key(&self, key_id: &str) -> Result<Option<$crate::ApiKeyRecord>, $crate::StoreError> {
                $crate::sql::read!(self, |c| sqlx::query::<$db>(&$crate::sql::select_api_key())
                    .bind(key_id)
                    .fetch_optional(c))?
                    .map(|row| $crate::sql::decode_api_key(&row))
                    .transpose()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant))]
            async fn list_api_keys(
                &self,
                tenant: &aftersales_domain::TenantId,
                after_key_id: Option<&str>,
                limit: u32,
            ) -> Result<Vec<$crate::ApiKeyRecord>, $crate::StoreError> {
                $crate::sql::read!(self, |c| sqlx::query::<$db>(&$crate::sql::list_api_keys())
                    .bind(tenant.as_str())
                    .bind(after_key_id.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(c))?
                    .iter()
                    .map($crate::sql::decode_api_key)
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant, key_id = %key_id))]
            async fn revoke_api_key(
                &self,
                tenant: &aftersales_domain::TenantId,
                key_id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::ApiKeyRecord>, $crate::StoreError> {
                use aftersales_domain::time::to_millis;
                sqlx::query::<$db>(&$crate::sql::revoke_api_key())
                    .bind(tenant.as_str())
                    .bind(key_id)
                    .bind(to_millis(at))
                    .fetch_optional(self.writer())
                    .await
                    .map_err(Self::error)?
                    .map(|row| $crate::sql::decode_api_key(&row))
                    .transpose()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant, key_id = %old_key_id))]
            async fn rotate_api_key(
                &self,
                tenant: &aftersales_domain::TenantId,
                old_key_id: &str,
                new: &$crate::ApiKeyRecord,
                old_expires_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::ApiKeyRecord>, $crate::StoreError> {
                use aftersales_domain::time::to_millis;
                let mut tx = self.writer().begin().await.map_err(Self::error)?;
                let retired = sqlx::query::<$db>(&$crate::sql::retire_rotated_api_key())
                    .bind(tenant.as_str())
                    .bind(old_key_id)
                    .bind(to_millis(old_expires_at))
                    .bind(new.key_id.as_str())
                    .bind(to_millis(new.created_at))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(Self::error)?;
                let Some(row) = retired else {
                    drop(tx);
                    return match <Self as $crate::Store>::api_key(self, old_key_id).await? {
                        Some(k) if &k.tenant == tenant => Err($crate::StoreError::Precondition(format!(
                            "api key {old_key_id} is revoked, expired or already rotated"
                        ))),
                        _ => Ok(None),
                    };
                };
                let old = $crate::sql::decode_api_key(&row)?;
                $crate::sql::insert_api_key!($db, new)
                    .execute(&mut *tx)
                    .await
                    .map_err(Self::error)?;
                tx.commit().await.map_err(Self::error)?;
                Ok(Some(old))
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant, case_id = %id))]
            async fn case(
                &self,
                tenant: &aftersales_domain::TenantId,
                id: &aftersales_domain::CaseId,
            ) -> Result<Option<aftersales_domain::Case>, $crate::StoreError> {
                if let Some(grouped) = self.grouped_case_reads() {
                    return grouped
                        .read($crate::postgres_grouped_reads::CaseKey::Id(tenant, id))
                        .await?
                        .map(|row| $crate::sql::decode_case(&*row))
                        .transpose();
                }
                if let Some(direct) = self.direct_reader() {
                    return direct.case(tenant, id);
                }
                $crate::sql::read!(self, |c| sqlx::query::<$db>($crate::sql::SELECT_CASE)
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(c))?
                    .map(|row| $crate::sql::decode_case(&row))
                    .transpose()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant, case_id = %id))]
            async fn case_read(
                &self,
                tenant: &aftersales_domain::TenantId,
                id: &aftersales_domain::CaseId,
            ) -> Result<Option<$crate::CaseRead>, $crate::StoreError> {
                if let Some(grouped) = self.grouped_case_reads() {
                    return grouped
                        .read($crate::postgres_grouped_reads::CaseKey::View(tenant, id))
                        .await?
                        .map(|row| $crate::sql::decode_case_read(&*row))
                        .transpose();
                }
                if let Some(direct) = self.direct_reader() {
                    return direct.case_read(tenant, id);
                }
                $crate::sql::read!(self, |c| sqlx::query::<$db>($crate::sql::SELECT_CASE_VIEW)
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(c))?
                    .map(|row| $crate::sql::decode_case_read(&row))
                    .transpose()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system))]
            async fn refresh_case_views(
                &self,
                limit: u32,
            ) -> Result<$crate::ViewRefreshPage, $crate::StoreError> {
                let Some(format) = $crate::case_view::format_in_force() else {
                    return Ok($crate::ViewRefreshPage { finished: true, ..Default::default() });
                };
                let progress: Option<(String, String, bool)> =
                    $crate::sql::read!(self, |c| sqlx::query_as::<$db, (String, String, bool)>(
                        $crate::sql::SELECT_VIEW_PASS
                    )
                    .bind(format)
                    .fetch_optional(c))?;
                let (after_tenant, after_id) = match &progress {
                    Some((_, _, true)) => {
                        return Ok($crate::ViewRefreshPage { finished: true, ..Default::default() })
                    }
                    Some((tenant, id, false)) => (tenant.clone(), id.clone()),
                    // Every key is greater: ids and tenants are never empty.
                    None => (String::new(), String::new()),
                };
                let rows = $crate::sql::read!(self, |c| sqlx::query::<$db>(
                    $crate::sql::SELECT_VIEWS_TO_REFRESH
                )
                .bind(after_tenant.as_str())
                .bind(after_id.as_str())
                .bind(format)
                .bind(i64::from(limit))
                .fetch_all(c))?;
                let page = $crate::sql::refreshed_views(&rows)?;
                let last = page.last.unwrap_or_else(|| (after_tenant.clone(), after_id.clone()));
                let finished = rows.len() < limit as usize;
                let mut tx = self.writer().begin().await.map_err(Self::error)?;
                // The claim first: on SQLite it takes the write lock before anything is read
                // in the transaction, and on PostgreSQL a page another process is writing
                // waits for it, then finds itself taken.
                let claim = match &progress {
                    Some(_) => sqlx::query::<$db>($crate::sql::CLAIM_VIEW_PASS_PAGE)
                        .bind(format)
                        .bind(last.0.as_str())
                        .bind(last.1.as_str())
                        .bind(finished)
                        .bind(after_tenant.as_str())
                        .bind(after_id.as_str()),
                    None => sqlx::query::<$db>($crate::sql::CLAIM_FIRST_VIEW_PASS_PAGE)
                        .bind(format)
                        .bind(last.0.as_str())
                        .bind(last.1.as_str())
                        .bind(finished),
                };
                if claim.execute(&mut *tx).await.map_err(Self::error)?.rows_affected() == 0 {
                    drop(tx);
                    return Ok($crate::ViewRefreshPage {
                        taken: true,
                        ..Default::default()
                    });
                }
                let mut rendered = 0u32;
                for chunk in page.views.chunks($crate::sql::KEYS_PER_STATEMENT / 2) {
                    let mut q = sqlx::QueryBuilder::<$db>::new($crate::sql::STORE_REFRESHED_VIEWS);
                    q.push_values(chunk, |mut row, refreshed| {
                        row.push_bind(refreshed.tenant.as_str())
                            .push_bind(refreshed.id.as_str())
                            .push_bind(refreshed.version)
                            .push_bind(refreshed.view.view.as_slice())
                            .push_bind(refreshed.view.format);
                    });
                    q.push($crate::sql::STORE_REFRESHED_VIEWS_SET);
                    let stored = q.build().execute(&mut *tx).await.map_err(Self::error)?;
                    rendered += stored.rows_affected() as u32;
                }
                tx.commit().await.map_err(Self::error)?;
                Ok($crate::ViewRefreshPage {
                    examined: rows.len() as u32,
                    rendered,
                    finished,
                    taken: false,
                })
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant, platform = %platform))]
            async fn case_by_platform_id(
                &self,
                tenant: &aftersales_domain::TenantId,
                platform: &aftersales_domain::PlatformCode,
                platform_case_id: &aftersales_domain::PlatformCaseId,
            ) -> Result<Option<aftersales_domain::Case>, $crate::StoreError> {
                if let Some(grouped) = self.grouped_case_reads() {
                    let key = $crate::postgres_grouped_reads::CaseKey::PlatformId(
                        tenant,
                        platform,
                        platform_case_id,
                    );
                    return grouped
                        .read(key)
                        .await?
                        .map(|row| $crate::sql::decode_case(&*row))
                        .transpose();
                }
                if let Some(direct) = self.direct_reader() {
                    return direct.case_by_platform_id(tenant, platform, platform_case_id);
                }
                $crate::sql::read!(self, |c| sqlx::query::<$db>($crate::sql::SELECT_CASE_BY_PLATFORM_ID)
                    .bind(tenant.as_str())
                    .bind(platform.as_str())
                    .bind(platform_case_id.as_str())
                    .fetch_optional(c))?
                    .map(|row| $crate::sql::decode_case(&row))
                    .transpose()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant))]
            async fn case_health_facts(
                &self,
                tenant: &aftersales_domain::TenantId,
                query: &$crate::HealthQuery,
            ) -> Result<Vec<aftersales_domain::health::CaseHealthFacts>, $crate::StoreError> {
                use aftersales_domain::time::to_millis;
                let mut q = sqlx::QueryBuilder::<$db>::new($crate::sql::SELECT_CASE_HEALTH);
                q.push(" WHERE c.tenant_id = ").push_bind(tenant.as_str());
                q.push(" AND c.created_at >= ").push_bind(to_millis(query.from));
                q.push(" AND c.created_at < ").push_bind(to_millis(query.to));
                if let Some(p) = &query.platform {
                    q.push(" AND c.platform = ").push_bind(p.as_str());
                }
                if let Some(s) = &query.shop {
                    q.push(" AND c.shop_id = ").push_bind(s.as_str());
                }
                $crate::sql::push_shops(&mut q, "c.shop_id", &query.shops);
                q.push(" LIMIT ").push_bind(i64::from($crate::MAX_HEALTH_CASES) + 1);
                let rows = $crate::sql::read!(self, |c| q.build().fetch_all(c))?;
                if rows.len() > $crate::MAX_HEALTH_CASES as usize {
                    return Err($crate::StoreError::TooMany(format!(
                        "more than {} cases in the window: narrow it",
                        $crate::MAX_HEALTH_CASES
                    )));
                }
                rows.iter().map($crate::sql::decode_health).collect()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant))]
            async fn cases_on_order(
                &self,
                tenant: &aftersales_domain::TenantId,
                order: &$crate::OrderRef,
            ) -> Result<Vec<aftersales_domain::Case>, $crate::StoreError> {
                if let Some(direct) = self.direct_reader() {
                    return direct.cases_on_order(tenant, order);
                }
                $crate::sql::read!(self, |c| sqlx::query::<$db>($crate::sql::SELECT_CASES_ON_ORDER)
                    .bind(tenant.as_str())
                    .bind(order.platform.as_str())
                    .bind(order.shop.as_str())
                    .bind(order.order_id.as_str())
                    .fetch_all(c))?
                    .iter()
                    .map($crate::sql::decode_case)
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant))]
            async fn list_cases(
                &self,
                tenant: &aftersales_domain::TenantId,
                query: &$crate::CaseQuery,
            ) -> Result<Vec<aftersales_domain::Case>, $crate::StoreError> {
                let built = $crate::sql::case_list_query(tenant, query);
                if let Some(direct) = self.direct_reader() {
                    return direct.cases(&built);
                }
                let q = $crate::batch::bind_values!(sqlx::query::<$db>(built.sql()), built);
                $crate::sql::read!(self, |c| q.fetch_all(c))?
                    .iter()
                    .map($crate::sql::decode_case)
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant))]
            async fn list_case_reads(
                &self,
                tenant: &aftersales_domain::TenantId,
                query: &$crate::CaseQuery,
            ) -> Result<Vec<$crate::CaseRead>, $crate::StoreError> {
                let built = $crate::sql::case_read_page_query(tenant, query);
                if let Some(direct) = self.direct_reader() {
                    return direct.case_reads(&built);
                }
                let q = $crate::batch::bind_values!(sqlx::query::<$db>(built.sql()), built);
                $crate::sql::read!(self, |c| q.fetch_all(c))?
                    .iter()
                    .map($crate::sql::decode_case_read)
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant, case_id = %case_id))]
            async fn case_events(
                &self,
                tenant: &aftersales_domain::TenantId,
                case_id: &aftersales_domain::CaseId,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<$crate::StoredEvent>, $crate::StoreError> {
                $crate::sql::read!(self, |c| sqlx::query::<$db>($crate::sql::SELECT_CASE_EVENTS)
                    .bind(tenant.as_str())
                    .bind(case_id.as_str())
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(c))?
                    .iter()
                    .map($crate::sql::decode_event)
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant, after_seq = after_seq))]
            async fn tenant_events(
                &self,
                tenant: &aftersales_domain::TenantId,
                shops: &[aftersales_domain::ShopId],
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<$crate::StoredEvent>, $crate::StoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new($crate::sql::SELECT_TENANT_EVENTS);
                q.push(" WHERE tenant_id = ").push_bind(tenant.as_str());
                $crate::sql::push_shops(&mut q, "shop_id", shops);
                q.push(" AND seq > ").push_bind(after_seq);
                q.push(" ORDER BY seq LIMIT ").push_bind(i64::from(limit));
                $crate::sql::read!(self, |c| q.build()
                    .fetch_all(c))?
                    .iter()
                    .map($crate::sql::decode_event)
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant))]
            async fn idempotent_response(
                &self,
                tenant: &aftersales_domain::TenantId,
                request_id: &str,
            ) -> Result<Option<$crate::IdempotencyRecord>, $crate::StoreError> {
                if let Some(grouped) = self.grouped_request_reads() {
                    return grouped
                        .read((tenant, request_id))
                        .await?
                        .map(|row| $crate::sql::decode_idempotency(&*row, tenant))
                        .transpose();
                }
                if let Some(direct) = self.direct_reader() {
                    return direct.idempotent_response(tenant, request_id);
                }
                $crate::sql::read!(self, |c| sqlx::query::<$db>($crate::sql::SELECT_IDEMPOTENCY)
                    .bind(tenant.as_str())
                    .bind(request_id)
                    .fetch_optional(c))?
                    .map(|row| $crate::sql::decode_idempotency(&row, tenant))
                    .transpose()
            }

            #[tracing::instrument(
                skip_all,
                fields(
                    db.system = $system,
                    tenant = %write.case.tenant,
                    case_id = %write.case.id,
                    mode = ?write.mode,
                    events = write.events.len(),
                    batch = tracing::field::Empty,
                    batch_size = tracing::field::Empty,
                )
            )]
            async fn write(&self, write: $crate::CaseWrite) -> Result<Vec<$crate::StoredEvent>, $crate::StoreError> {
                self.group().write(write).await
            }

            fn write_stats(&self) -> $crate::WriteStats {
                self.group().stats()
            }

            fn grouped_read_stats(
                &self,
            ) -> Vec<(&'static str, $crate::postgres_grouped_reads::GroupedReadStats)> {
                let mut stats = Vec::new();
                if let Some(cases) = self.grouped_case_reads() {
                    stats.push(("case", cases.stats()));
                }
                if let Some(requests) = self.grouped_request_reads() {
                    stats.push(("request", requests.stats()));
                }
                stats
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, keys = keys.len()))]
            async fn cases_by_ids(
                &self,
                keys: &[(aftersales_domain::TenantId, aftersales_domain::CaseId)],
            ) -> Result<Vec<aftersales_domain::Case>, $crate::StoreError> {
                // Duplicates would come back once per chunk they fall in.
                let mut keys: Vec<(&str, &str)> =
                    keys.iter().map(|(t, id)| (t.as_str(), id.as_str())).collect();
                keys.sort_unstable();
                keys.dedup();
                let mut cases = Vec::with_capacity(keys.len());
                for chunk in keys.chunks($crate::sql::KEYS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new($crate::sql::CASES_BY_IDS);
                    q.push_values(chunk, |mut row, (tenant, id)| {
                        row.push_bind(*tenant).push_bind(*id);
                    });
                    q.push($crate::sql::CASES_BY_IDS_ON);
                    for row in $crate::sql::read!(self, |c| q.build().fetch_all(c))? {
                        cases.push($crate::sql::decode_case(&row)?);
                    }
                }
                Ok(cases)
            }

            #[tracing::instrument(
                skip_all,
                fields(
                    db.system = $system,
                    owner = %claim.owner,
                    limit = claim.limit,
                    claimed = tracing::field::Empty,
                )
            )]
            async fn claim_due_timers(
                &self,
                claim: &$crate::TimerClaim,
            ) -> Result<Vec<$crate::ClaimedTimer>, $crate::StoreError> {
                use $crate::TimerKind;
                use aftersales_domain::time::to_millis;
                let mut claimed: Vec<$crate::ClaimedTimer> = Vec::new();
                // One transaction, so the planner setting below stays local to the claim.
                let mut tx = self.writer().begin().await.map_err(Self::error)?;
                if !$claim_setup.is_empty() {
                    sqlx::query::<$db>($claim_setup)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::error)?;
                }
                // Expiries first: a missed consequence costs the merchant more than a late
                // reminder, so under backlog they take the batch.
                for kind in [TimerKind::Expiry, TimerKind::Reminder] {
                    let left = (claim.limit as usize).saturating_sub(claimed.len());
                    if left == 0 {
                        break;
                    }
                    let mut batch = sqlx::query::<$db>(&$crate::sql::claim_timers(kind, $lock))
                        .bind(claim.owner.as_str())
                        .bind(to_millis(claim.lease_until))
                        .bind(to_millis(claim.now))
                        .bind(left as i64)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(Self::error)?
                        .iter()
                        .map(|row| $crate::sql::decode_claimed_timer(row, kind))
                        .collect::<Result<Vec<_>, _>>()?;
                    // RETURNING comes back in no particular order.
                    batch.sort_by(|a, b| {
                        (a.at, &a.tenant, &a.case_id, a.position)
                            .cmp(&(b.at, &b.tenant, &b.case_id, b.position))
                    });
                    claimed.extend(batch);
                }
                tx.commit().await.map_err(Self::error)?;
                tracing::Span::current().record("claimed", claimed.len());
                Ok(claimed)
            }

            #[tracing::instrument(
                skip_all,
                fields(db.system = $system, owner = %owner, timers = timers.len())
            )]
            async fn release_timers(
                &self,
                owner: &str,
                timers: &[$crate::ClaimedTimer],
            ) -> Result<(), $crate::StoreError> {
                for chunk in timers.chunks($crate::sql::KEYS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new($crate::sql::RELEASE_TIMERS);
                    q.push_values(chunk, |mut row, t| {
                        row.push_bind(t.tenant.as_str())
                            .push_bind(t.case_id.as_str())
                            .push_bind(i64::from(t.position));
                    });
                    q.push($crate::sql::RELEASE_TIMERS_WHERE).push_bind(owner);
                    q.build().execute(self.writer()).await.map_err(Self::error)?;
                }
                Ok(())
            }

            #[tracing::instrument(skip_all, fields(db.system = $system))]
            async fn next_timer_at(
                &self,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::StoreError> {
                let (due_at, remind_at): (Option<i64>, Option<i64>) =
                    $crate::sql::read!(self, |c| sqlx::query_as::<$db, (Option<i64>, Option<i64>)>($crate::sql::NEXT_TIMER_AT)
                        .fetch_one(c))?;
                Ok(due_at
                    .into_iter()
                    .chain(remind_at)
                    .min()
                    .map(aftersales_domain::time::from_millis))
            }

            #[tracing::instrument(skip_all, fields(db.system = $system, tenant = %tenant))]
            async fn list_due_deadlines(
                &self,
                tenant: &aftersales_domain::TenantId,
                query: &$crate::DueDeadlineQuery,
            ) -> Result<Vec<$crate::DueDeadline>, $crate::StoreError> {
                use aftersales_domain::time::to_millis;
                if query.limit == 0 {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new($crate::sql::LIST_DUE_DEADLINES);
                q.push(" WHERE d.tenant_id = ").push_bind(tenant.as_str());
                q.push(" AND d.state = 'active'");
                if let Some(s) = &query.shop {
                    q.push(" AND d.shop_id = ").push_bind(s.as_str());
                }
                $crate::sql::push_shops(&mut q, "d.shop_id", &query.shops);
                if let Some(p) = &query.platform {
                    q.push(" AND d.platform = ").push_bind(p.as_str());
                }
                if let Some(p) = query.due_party {
                    q.push(" AND d.due_party = ").push_bind($crate::sql::due_party_str(p));
                }
                if let Some(t) = query.due_before {
                    q.push(" AND d.due_at < ").push_bind(to_millis(t));
                }
                if let Some(after) = &query.after {
                    q.push(" AND (d.due_at, d.case_id, d.position) > (")
                        .push_bind(to_millis(after.due_at))
                        .push(", ")
                        .push_bind(after.case_id.as_str())
                        .push(", ")
                        .push_bind(i64::from(after.position))
                        .push(")");
                }
                q.push(" ORDER BY d.due_at, d.case_id, d.position LIMIT ")
                    .push_bind(i64::from(query.limit));
                $crate::sql::read!(self, |c| q.build()
                    .fetch_all(c))?
                    .iter()
                    .map($crate::sql::decode_due_deadline)
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(db.system = $system))]
            async fn gauge_counts(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::GaugeCounts, $crate::StoreError> {
                let cases: Vec<(String, String, i64)> =
                    $crate::sql::read!(self, |c| sqlx::query_as::<$db, (String, String, i64)>($crate::sql::GAUGE_OPEN_CASES)
                        .fetch_all(c))?;
                let deadlines: Vec<(String, i64, i64)> =
                    $crate::sql::read!(self, |c| sqlx::query_as::<$db, (String, i64, i64)>($crate::sql::GAUGE_DEADLINES)
                        .bind(aftersales_domain::time::to_millis(now))
                        .fetch_all(c))?;
                $crate::sql::gauge_counts(cases, deadlines)
            }
        }
    };
}

pub(crate) use impl_store;

/// The INSERT of one API key with its binds, for `insert_api_key` and the new key of a
/// rotation (which runs inside the rotation's transaction).
macro_rules! insert_api_key {
    ($db:ty, $key:expr) => {{
        use aftersales_domain::time::to_millis;
        let key: &$crate::ApiKeyRecord = $key;
        sqlx::query::<$db>($crate::sql::INSERT_API_KEY)
            .bind(key.key_id.as_str())
            .bind(key.tenant.as_str())
            .bind(key.account.as_str())
            .bind(key.role.as_str())
            .bind(i64::from(key.platform_task))
            .bind(key.secret_hash.as_str())
            .bind(to_millis(key.created_at))
            .bind(key.revoked_at.map(to_millis))
            .bind($crate::sql::shops_column(&key.shops))
            .bind(key.expires_at.map(to_millis))
            .bind(key.created_by.as_str())
            .bind(key.replaced_by.as_deref())
    }};
}

pub(crate) use insert_api_key;

#[cfg(test)]
mod tests {
    use super::{case_list_query, row_chunks};
    use crate::batch::Value;
    use crate::CaseQuery;
    use aftersales_domain::{CaseId, ShopId, TenantId};

    fn sizes(n: usize) -> Vec<usize> {
        let items = vec![0u8; n];
        row_chunks(&items, 256).map(<[u8]>::len).collect()
    }

    #[test]
    fn row_chunks_keep_the_statement_texts_few() {
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(16), [16]);
        assert_eq!(sizes(17), [16, 1]);
        assert_eq!(sizes(100), [64, 32, 4]);
        assert_eq!(sizes(600), [256, 256, 64, 16, 8]);
        let mut texts = std::collections::BTreeSet::new();
        for n in 0..2000 {
            assert_eq!(sizes(n).iter().sum::<usize>(), n);
            texts.extend(sizes(n));
        }
        assert!(texts.len() <= 21, "{texts:?}");
    }

    /// Both backends bind by position: every `$n` must be the n-th value, or a filter would
    /// compare one column with another filter's value.
    #[test]
    fn case_list_query_numbers_placeholders_in_bind_order() {
        let tenant = TenantId::parse("acme").unwrap();
        let query = CaseQuery {
            shops: vec![ShopId::parse("s1").unwrap(), ShopId::parse("s2").unwrap()],
            needs_refresh: true,
            after_id: Some(CaseId::parse("c-9").unwrap()),
            limit: 50,
            ..CaseQuery::default()
        };
        let built = case_list_query(&tenant, &query);
        assert_eq!(
            built.sql(),
            "SELECT tenant_id, id, body FROM cases WHERE tenant_id = $1 \
             AND shop_id IN ($2, $3) AND needs_refresh = 1 AND id > $4 ORDER BY id LIMIT $5"
        );
        assert_eq!(
            built.values(),
            [
                Value::from("acme"),
                Value::from("s1"),
                Value::from("s2"),
                Value::from("c-9"),
                Value::from(50_i64),
            ]
        );
    }
}
