-- PostgreSQL drops the per-row checks of service_case's hall and level and of
-- case_event's case here (issue 24: each was planned afresh on every row). SQLite's
-- checks are a lookup in a key each, with nothing to plan, and dropping them would mean
-- rebuilding both tables: they stay. This file keeps both migration lists in step.
SELECT 1;
