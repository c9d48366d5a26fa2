-- GetCase answers with the case as the API encodes it (an `aftersales.v1.Case` message),
-- rendered when the row is written instead of decoded from `body` and encoded on every read
-- (crates/store/src/case_view.rs). `body` stays the truth; the view is current only while
-- `api_view_version = version` and `api_view_format` is the running binary's. Rows written before
-- this column have none and are served from `body` until their next write. No index: the
-- view is read only by primary key.
ALTER TABLE cases ADD COLUMN api_view BLOB;
ALTER TABLE cases ADD COLUMN api_view_format INTEGER;
ALTER TABLE cases ADD COLUMN api_view_version INTEGER;
