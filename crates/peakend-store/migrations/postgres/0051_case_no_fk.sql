-- Issue 24: a case's hall and inbox level, and a timeline line's case, are no longer
-- checked against their parents row by row. Each check is a query that PostgreSQL
-- plans afresh every time under the connections' `force_custom_plan` (see
-- `SqlStore::connect`), and planning one on service_case opens its twelve indexes: in a
-- busy ingest (cases opened, escalated by the sweep) the checks were a seventh of the
-- database's time. As with visit_event (0015): the store refuses a hall that is not in
-- the organisation before it opens a case (`open_cases`, the ingest's `hall_rules`),
-- levels come from the org tree, org nodes and cases are never deleted, and a case's
-- timeline is written with the case, in its transaction.
ALTER TABLE service_case DROP CONSTRAINT IF EXISTS service_case_hall_id_fkey;
ALTER TABLE service_case DROP CONSTRAINT IF EXISTS service_case_level_id_fkey;
ALTER TABLE case_event DROP CONSTRAINT IF EXISTS case_event_case_id_fkey;
