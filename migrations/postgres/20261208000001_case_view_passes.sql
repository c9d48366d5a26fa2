-- The background pass that renders again the stored case views a new format made stale
-- (crates/store/src/case_view.rs, "the pass"): how far it has got, per view format, so that
-- a restart resumes it and a finished pass is not run again by the next replica to start.
-- Keys are compared as (tenant_id, id), the order of the cases' primary key.
CREATE TABLE case_view_passes (
    format       BIGINT NOT NULL PRIMARY KEY,
    after_tenant TEXT    NOT NULL,
    after_id     TEXT    NOT NULL,
    finished     BOOLEAN NOT NULL
);
