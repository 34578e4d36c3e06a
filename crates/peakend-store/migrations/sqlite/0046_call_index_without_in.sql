-- Issue 24, a province's day replayed: the partial index of monitored calls (0028) said
-- `kind IN (…three kinds…)`, and SQLite evaluates an IN list of more than two constants
-- through a temporary B-tree built afresh for every INSERT that runs the statement: a
-- fifth of the event writer's time on every event, call or not. The same condition as
-- three equalities costs a few comparisons; the monitored-call lookup says it the same
-- way (`call_on_record`), as a partial index is only used by a query that repeats its
-- condition.
DROP INDEX visit_event_call;
CREATE INDEX visit_event_call ON visit_event (hall_id, json_extract(payload, '$.call'))
    WHERE kind = 'call_offered' OR kind = 'call_answered' OR kind = 'call_transferred';
-- The same for the cases still being worked (0018), written by the ingest as cases
-- open and by every change of a case; the case report repeats this condition.
DROP INDEX service_case_active;
CREATE INDEX service_case_active ON service_case (opened_at)
WHERE state = 'open' OR state = 'acknowledged' OR state = 'investigating' OR state = 'resolved';
