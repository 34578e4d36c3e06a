-- Standards checked and improved (issue 21).
--
-- An audit (a self-check, a manager's walk, a mystery visit, a regional inspection)
-- of one hall at one time, on the hall's journey as it was then; one item per standard
-- checked, its result as recorded and whether it passed.
CREATE TABLE audit (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall_id      TEXT NOT NULL REFERENCES org_node (id),
    kind         TEXT NOT NULL,
    at_ms        BIGINT NOT NULL,
    -- The hall's local date of the audit: what the compliance figures count it under.
    day          TEXT NOT NULL,
    journey_key  TEXT NOT NULL,
    by_user      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX audit_hall_at ON audit (hall_id, at_ms);
CREATE TABLE audit_item (
    audit_id     BIGINT NOT NULL REFERENCES audit (id),
    standard_key TEXT NOT NULL,
    moment_key   TEXT NOT NULL,
    result       TEXT NOT NULL,
    passed       BOOLEAN NOT NULL,
    note         TEXT,
    photo        TEXT,
    PRIMARY KEY (audit_id, standard_key)
);
-- Photos are kept once by the SHA-256 of their bytes (the id an item names).
CREATE TABLE audit_photo (
    id           TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BYTEA NOT NULL,
    size         BIGINT NOT NULL,
    by_user      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
-- Checks made and passed per hall, local day, standard and source (`auto` for the
-- checks the device events make, else the audit kind), and the same per month: a
-- compliance report reads whole months from `check_month` and only the days at the
-- edges of its range from `check_day`, so a year costs twelve rows a standard.
CREATE TABLE check_day (
    hall_id      TEXT NOT NULL,
    day          TEXT NOT NULL,
    standard_key TEXT NOT NULL,
    moment_key   TEXT NOT NULL,
    source       TEXT NOT NULL,
    made         BIGINT NOT NULL,
    passed       BIGINT NOT NULL,
    PRIMARY KEY (hall_id, day, standard_key, source)
);
-- Covering: a report's range is read from the index alone.
CREATE INDEX check_day_day ON check_day (day, hall_id, moment_key, standard_key, source, made, passed);
CREATE TABLE check_month (
    hall_id      TEXT NOT NULL,
    month        TEXT NOT NULL,
    standard_key TEXT NOT NULL,
    moment_key   TEXT NOT NULL,
    source       TEXT NOT NULL,
    made         BIGINT NOT NULL,
    passed       BIGINT NOT NULL,
    PRIMARY KEY (hall_id, month, standard_key, source)
);
CREATE INDEX check_month_month ON check_month (month, hall_id, moment_key, standard_key, source, made, passed);
-- The hall-days whose automatic checks were made, with the events the day held then:
-- a day that gains a late event is checked again.
CREATE TABLE check_closed (
    hall_id      TEXT NOT NULL,
    day_start    BIGINT NOT NULL,
    events       BIGINT NOT NULL,
    PRIMARY KEY (hall_id, day_start)
);

-- A closed day's care checks read the acknowledgements of the alerts raised that day.
CREATE INDEX alert_hall_raised ON alert (hall_id, raised_at);

-- Each hall's 5-step improvement plan: stock-takes (the form as JSON, kept with its
-- date), actions with the metric they must move, morning-meeting drills, and exams.
CREATE TABLE plan_stocktake (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall_id      TEXT NOT NULL REFERENCES org_node (id),
    at_ms        BIGINT NOT NULL,
    body         TEXT NOT NULL,
    by_user      TEXT NOT NULL
);
CREATE INDEX plan_stocktake_hall ON plan_stocktake (hall_id, at_ms);
CREATE TABLE plan_action (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall_id      TEXT NOT NULL REFERENCES org_node (id),
    moment_key   TEXT NOT NULL,
    standard_key TEXT,
    what         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    due          TEXT NOT NULL,
    metric       TEXT NOT NULL,
    baseline     DOUBLE PRECISION,
    target       DOUBLE PRECISION NOT NULL,
    created_at   BIGINT NOT NULL,
    by_user      TEXT NOT NULL
);
CREATE INDEX plan_action_hall ON plan_action (hall_id, id);
CREATE TABLE plan_drill (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall_id      TEXT NOT NULL REFERENCES org_node (id),
    day          TEXT NOT NULL,
    moment_key   TEXT NOT NULL,
    attendees    TEXT NOT NULL,
    note         TEXT,
    by_user      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX plan_drill_hall ON plan_drill (hall_id, day);
CREATE TABLE exam (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall_id      TEXT NOT NULL REFERENCES org_node (id),
    staff        TEXT NOT NULL,
    period       TEXT NOT NULL,
    taken        TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    out_of       DOUBLE PRECISION NOT NULL,
    by_user      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX exam_hall ON exam (hall_id, taken);
