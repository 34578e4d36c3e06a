-- The case KPIs read every case opened in a period: one index holds every column they
-- use, in opening order, so each of their passes is a range scan of the index alone
-- (no row is visited), whatever else a case row carries.
CREATE INDEX service_case_kpi ON service_case (
    opened_at, hall_id, source, moment_key, acknowledged_at, acknowledge_due,
    resolved_at, resolve_due, callback_due, followed_up_at, reopened, escalations,
    recovery, recommend
);

-- Inboxes list a hall's or a level's cases in some states, newest first: few of a
-- million cases are still open, and these find them without visiting the closed ones.
CREATE INDEX service_case_hall_state ON service_case (hall_id, state, id);
CREATE INDEX service_case_level_state ON service_case (level_id, state, id);
DROP INDEX service_case_level;
