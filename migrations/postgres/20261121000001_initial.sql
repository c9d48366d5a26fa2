-- Initial schema (PostgreSQL). Keep in step with migrations/sqlite/20261121000001_initial.sql:
-- same tables, columns and index names; only the column types differ.
-- Every instant is BIGINT epoch milliseconds: portable, totally ordered, indexable.
-- Case ids are COLLATE "C" so keyset paging (`ORDER BY id`, `id > $after`) uses byte order,
-- as SQLite does, whatever locale the database was created with.

CREATE TABLE api_keys (
    key_id        TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL,
    account       TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    platform_task BIGINT  NOT NULL CHECK (platform_task IN (0, 1)),
    -- Hex SHA-256 of the secret; the secret itself is never stored.
    secret_hash   TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

-- The columns beside `body` exist only to be filtered and indexed; `body` (serde_json of the
-- domain Case) is the source of truth when a case is read back.
CREATE TABLE cases (
    tenant_id        TEXT    NOT NULL,
    id               TEXT    COLLATE "C" NOT NULL,
    shop_id          TEXT    NOT NULL,
    platform         TEXT    NOT NULL,
    platform_case_id TEXT,
    kind             TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    next_deadline_at BIGINT,
    platform_version BIGINT,
    version          BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    body             TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Two concurrent first ingests of the same platform record must not both open a case.
CREATE UNIQUE INDEX cases_platform_case_id_key
    ON cases (tenant_id, platform, platform_case_id) WHERE platform_case_id IS NOT NULL;
-- One index per ListCases filter, each ending in id so keyset paging stays index-backed.
CREATE INDEX cases_by_platform      ON cases (tenant_id, platform, id);
CREATE INDEX cases_by_shop          ON cases (tenant_id, shop_id, id);
CREATE INDEX cases_by_kind          ON cases (tenant_id, kind, id);
CREATE INDEX cases_by_state         ON cases (tenant_id, state, id);
CREATE INDEX cases_by_next_deadline ON cases (tenant_id, next_deadline_at, id);
CREATE INDEX cases_by_updated       ON cases (tenant_id, updated_at, id);

-- A mirror of each case's deadlines (the copy in `cases.body` is authoritative), so the
-- deadline sweep can find what is due across all tenants without reading case bodies.
CREATE TABLE deadlines (
    tenant_id   TEXT    NOT NULL,
    case_id     TEXT    COLLATE "C" NOT NULL,
    position    BIGINT  NOT NULL,
    key         TEXT    NOT NULL,
    rule_id     TEXT    NOT NULL,
    due_party   TEXT    NOT NULL,
    due_at      BIGINT  NOT NULL,
    remind_at   BIGINT,
    consequence TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, case_id, position),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX deadlines_active_due    ON deadlines (due_at)    WHERE state = 'active';
CREATE INDEX deadlines_active_remind ON deadlines (remind_at) WHERE state = 'active';

-- `seq` is per tenant, gap-free and in commit order (see tenant_event_counters).
CREATE TABLE case_events (
    tenant_id   TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    case_id     TEXT    COLLATE "C" NOT NULL,
    kind        TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    detail      TEXT    NOT NULL,
    occurred_at BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id)
);
CREATE INDEX case_events_by_case ON case_events (tenant_id, case_id, seq);

-- The last seq handed out per tenant. A write bumps it as its last statement before commit;
-- the bumped row stays locked until commit, so seqs are assigned in commit order and a feed
-- reader polling `seq > cursor` never misses a later commit with a smaller seq.
CREATE TABLE tenant_event_counters (
    tenant_id TEXT    NOT NULL PRIMARY KEY,
    last_seq  BIGINT  NOT NULL
);

CREATE TABLE idempotency_keys (
    tenant_id   TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    response    BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
);
-- For the TTL purge.
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);
