-- X-03: where a resolved case stands on the merchant's satisfaction check (售后回访), so ListCases
-- can list the cases nobody has called yet ('unchecked') and the ones whose buyer was
-- dissatisfied or could not be reached. NULL while the case is open: the column is written
-- from Case::satisfaction_status with every case row. Same file on both backends.
ALTER TABLE cases ADD COLUMN satisfaction TEXT;

-- No case had a check before this column: every resolved case is unchecked. The state list is
-- CaseState::is_resolved (the complement of the open states in the gauges migration).
UPDATE cases SET satisfaction = 'unchecked'
    WHERE state IN ('refunded', 'reshipped', 'exchanged', 'repaired', 'closed',
                    'withdrawn_by_buyer', 'expired');

-- Partial: open cases, the ones written most, have no entry to maintain.
CREATE INDEX cases_by_satisfaction ON cases (tenant_id, satisfaction, id)
    WHERE satisfaction IS NOT NULL;
