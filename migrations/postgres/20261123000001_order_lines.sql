-- Order-line lookups and the refresh queue (PostgreSQL). Keep in step with the SQLite file of
-- the same name.
--
-- TB-03 (one request per order line) and TB-29 (no second false-shipment complaint on a
-- sub-order) need the cases already opened on an order line; `needs_refresh` lists the cases a
-- TMC message marked stale (ListCases filter `needs_refresh = true`), which a poller re-fetches.
ALTER TABLE cases ADD COLUMN order_id TEXT;
ALTER TABLE cases ADD COLUMN sub_order_id TEXT;
ALTER TABLE cases ADD COLUMN needs_refresh BIGINT NOT NULL DEFAULT 0 CHECK (needs_refresh IN (0, 1));

UPDATE cases SET
    order_id = body::jsonb ->> 'order_id',
    sub_order_id = body::jsonb ->> 'sub_order_id',
    needs_refresh = CASE WHEN body::jsonb -> 'needs_refresh' IS NULL
                           OR body::jsonb -> 'needs_refresh' = 'null'::jsonb THEN 0 ELSE 1 END;

CREATE INDEX cases_by_order_line ON cases (tenant_id, platform, shop_id, order_id, sub_order_id)
    WHERE order_id IS NOT NULL;
-- Partial: only the few stale cases are in it, and paging by id stays index-backed.
CREATE INDEX cases_needing_refresh ON cases (tenant_id, id) WHERE needs_refresh = 1;
