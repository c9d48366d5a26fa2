-- Deadline timers (PostgreSQL). Keep in step with
-- migrations/sqlite/20261122000001_deadline_timers.sql: same columns and index names; only the
-- column types differ.

-- The case's shop and platform, copied onto its deadlines so the work queue (ListDueDeadlines)
-- filters and pages on one index without joining cases first. Nullable only because a column
-- added to existing rows cannot be NOT NULL without a default; every write fills them.
ALTER TABLE deadlines ADD COLUMN shop_id TEXT;
ALTER TABLE deadlines ADD COLUMN platform TEXT;
-- When the reminder went out (the copy in the case body is authoritative), so the sweep does
-- not claim a reminder twice.
ALTER TABLE deadlines ADD COLUMN reminded_at BIGINT;
-- A sweeper's lease on the row: claimed timers are skipped until lease_until, so concurrent
-- sweepers never work the same timer and a crashed one's claims come free again. Every write
-- of the case rewrites its deadline rows without a lease, which is how a fired timer completes.
ALTER TABLE deadlines ADD COLUMN lease_owner TEXT;
ALTER TABLE deadlines ADD COLUMN lease_until BIGINT;

UPDATE deadlines SET
    shop_id  = (SELECT c.shop_id  FROM cases c
                WHERE c.tenant_id = deadlines.tenant_id AND c.id = deadlines.case_id),
    platform = (SELECT c.platform FROM cases c
                WHERE c.tenant_id = deadlines.tenant_id AND c.id = deadlines.case_id);

-- The reminder claim and next_timer_at look only at reminders not yet sent; a sent reminder
-- leaves this index, so the claim never walks past rows it can no longer take.
DROP INDEX deadlines_active_remind;
CREATE INDEX deadlines_pending_reminder ON deadlines (remind_at)
    WHERE state = 'active' AND reminded_at IS NULL;

-- deadlines_active_due (due_at) WHERE state = 'active' stays: the expiry claim and
-- next_timer_at walk it in due order.

-- ListDueDeadlines: one tenant's active deadlines in (due_at, case_id, position) order, the
-- keyset it pages on, with or without a due-before bound.
CREATE INDEX deadlines_queue ON deadlines (tenant_id, due_at, case_id, position)
    WHERE state = 'active';
-- ListDueDeadlines filtered to one shop (the common view of a shop's agents).
CREATE INDEX deadlines_queue_by_shop ON deadlines (tenant_id, shop_id, due_at, case_id, position)
    WHERE state = 'active';

-- Every case write deletes and reinserts its deadline rows and every claim updates them, so
-- the table churns: dead row versions stay in the partial indexes the sweep walks until VACUUM
-- removes them (measured: the idle sweep read 115 buffers after 20,000 fires, 508 after
-- 100,000, 4–6 after VACUUM; docs/benchmarks.md). Vacuum and analyze after 2% of the table
-- changes instead of the default 20%/10%, and leave page room for the lease updates.
ALTER TABLE deadlines SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    fillfactor = 90
);
