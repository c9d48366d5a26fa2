-- GetCase answers with the case as the API encodes it (an `aftersales.v1.Case` message),
-- rendered when the row is written instead of decoded from `body` and encoded on every read
-- (crates/store/src/case_view.rs). `body` stays the truth; the view is current only while
-- `api_view_version = version` and `api_view_format` is the running binary's. Rows written before
-- this column have none and are served from `body` until their next write. No index: the
-- view is read only by primary key. Adding nullable columns with no default rewrites nothing.
ALTER TABLE cases
    ADD COLUMN api_view BYTEA,
    ADD COLUMN api_view_format BIGINT,
    ADD COLUMN api_view_version BIGINT;

-- With the view a case row is some 2.1 kB (body ~1.3 kB, view ~0.7 kB), just over the 2 kB at
-- which PostgreSQL starts compressing a row's largest values: every write then compressed the
-- body with pglz and every read decompressed it, which cost a case write ~35% more backend CPU
-- (docs/benchmarks.md, "stored views"). Rows under 4 kB now stay as they are; a larger one is
-- still compressed, and moved out of line if that is not enough.
ALTER TABLE cases SET (toast_tuple_target = 4080);
