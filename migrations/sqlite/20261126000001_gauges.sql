-- The gauges the metrics exporter reports (docs/observability.md): open cases per platform and
-- state, active deadlines per platform split into due and overdue. Same file on both backends.
-- `Store::gauge_counts` runs every few seconds on every replica, so each count reads only a
-- partial index of the rows it counts, never the closed cases or finished deadlines that make up
-- most of a long-lived database.

-- Open cases: the states a case can still leave (CaseState::is_resolved is false). The query in
-- crates/store/src/sql.rs (GAUGE_OPEN_CASES) repeats this predicate word for word, which is how
-- SQLite decides it may use a partial index; a store test checks the list against the domain.
CREATE INDEX cases_open_by_platform_state ON cases (platform, state)
    WHERE state IN ('awaiting_merchant', 'awaiting_buyer', 'return_in_transit',
                    'awaiting_merchant_execution', 'platform_intervening', 'follow_up_pending');

-- Active deadlines per platform, with due_at in the index so the due/overdue split is an
-- index-only count.
CREATE INDEX deadlines_active_by_platform ON deadlines (platform, due_at)
    WHERE state = 'active';
