-- Shop health (AL-23) counts the cases opened in a time window per platform and shop; the
-- per-case event checks use case_events_by_case. Same file on both backends.
CREATE INDEX cases_by_created ON cases (tenant_id, created_at);
