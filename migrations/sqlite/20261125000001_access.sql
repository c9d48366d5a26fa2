-- Access control and audit (SQLite). Keep in step with the PostgreSQL file of the same name.
--
-- api_keys: keys may be scoped to shops, expire (the old key of a rotation keeps working
-- for a grace period) and say who made them and what replaced them. `secret_hash` now
-- holds an Argon2id PHC string; rows written before hold a hex SHA-256, still accepted.
ALTER TABLE api_keys ADD COLUMN shops TEXT;              -- JSON array of shop ids; NULL: every shop
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN replaced_by TEXT;

-- case_events: who (which account, through which key) made each change, and the case's shop
-- so a shop-scoped account's event feed is an index range, not a filter over every event.
-- A case never changes shop, so the copy cannot go stale.
ALTER TABLE case_events ADD COLUMN shop_id TEXT NOT NULL DEFAULT '';
ALTER TABLE case_events ADD COLUMN recorded_by TEXT;
ALTER TABLE case_events ADD COLUMN api_key_id TEXT;
UPDATE case_events SET shop_id = (
    SELECT c.shop_id FROM cases c
    WHERE c.tenant_id = case_events.tenant_id AND c.id = case_events.case_id);
CREATE INDEX case_events_by_shop ON case_events (tenant_id, shop_id, seq);
