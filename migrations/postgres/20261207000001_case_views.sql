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
