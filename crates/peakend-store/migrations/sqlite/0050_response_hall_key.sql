-- Issue 24, the survey import: SQLite's survey_response drops `UNIQUE (hall_id, id)`.
-- Its index (random by hall) was part of the table, so a large import could not drop it
-- for its length as it does the others, and it cost every inserted response a B-tree
-- descent to a random page (2,000,000 rows bound 50 a statement: 18.1 s of inserts with
-- it, 7.6 s without; the import took 29-30 s instead of 39-41 s). The row id
-- alone is unique and no query reads by that key. PostgreSQL keeps it as its primary
-- key (see migrations/postgres/0050).
--
-- The legacy rating and need rows (responses stored before 0041; nothing writes them
-- now) referenced that key by foreign key, which needs an index on it: their deletion
-- with their response is a trigger instead.
--
-- The index by hall and date is not made again: its one reader (the NPS distribution of
-- some halls, `survey_recommend`) names the journeys and reads the index by journey,
-- hall and date, and building it cost a large import 3 s at its end.
--
-- SQLite cannot drop a table's constraint: the tables are copied. The children go
-- first: with foreign keys on, dropping the parent would delete their rows by cascade.
CREATE TABLE survey_response_new (
    id                 INTEGER PRIMARY KEY,
    hall_id            TEXT NOT NULL REFERENCES org_node (id),
    journey_key        TEXT NOT NULL REFERENCES journey (journey_key),
    respondent         TEXT NOT NULL,
    visit_date         TEXT NOT NULL,
    segment            TEXT,
    purpose            TEXT,
    overall            DOUBLE PRECISION,
    nps                DOUBLE PRECISION,
    tolerable_wait_min DOUBLE PRECISION,
    received_at        BIGINT NOT NULL,
    comment            TEXT,
    customer           TEXT,
    layout_id          BIGINT REFERENCES answer_layout (id),
    answers            BLOB,
    short_form         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (journey_key, respondent)
);
INSERT INTO survey_response_new (id, hall_id, journey_key, respondent, visit_date, segment,
    purpose, overall, nps, tolerable_wait_min, received_at, comment, customer, layout_id,
    answers, short_form)
SELECT id, hall_id, journey_key, respondent, visit_date, segment, purpose, overall, nps,
    tolerable_wait_min, received_at, comment, customer, layout_id, answers, short_form
FROM survey_response;

CREATE TABLE response_rating_new (
    hall_id      TEXT NOT NULL,
    response_id  BIGINT NOT NULL,
    journey_key  TEXT NOT NULL,
    moment_key   TEXT NOT NULL,
    importance   DOUBLE PRECISION,
    satisfaction DOUBLE PRECISION,
    expectation  DOUBLE PRECISION,
    competitor   DOUBLE PRECISION,
    PRIMARY KEY (hall_id, response_id, moment_key),
    FOREIGN KEY (journey_key, moment_key) REFERENCES journey_moment (journey_key, moment_key)
);
INSERT INTO response_rating_new (hall_id, response_id, journey_key, moment_key, importance,
    satisfaction, expectation, competitor)
SELECT hall_id, response_id, journey_key, moment_key, importance, satisfaction, expectation,
    competitor
FROM response_rating;
DROP TABLE response_rating;

CREATE TABLE response_need_new (
    hall_id     TEXT NOT NULL,
    response_id BIGINT NOT NULL,
    moment_key  TEXT NOT NULL,
    need_key    TEXT NOT NULL,
    importance  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hall_id, response_id, moment_key, need_key)
);
INSERT INTO response_need_new (hall_id, response_id, moment_key, need_key, importance)
SELECT hall_id, response_id, moment_key, need_key, importance FROM response_need;
DROP TABLE response_need;

DROP TABLE survey_response;
ALTER TABLE survey_response_new RENAME TO survey_response;
ALTER TABLE response_rating_new RENAME TO response_rating;
ALTER TABLE response_need_new RENAME TO response_need;

CREATE INDEX survey_response_comment ON survey_response (journey_key, visit_date)
    WHERE comment IS NOT NULL;
CREATE INDEX survey_response_hall_respondent ON survey_response (hall_id, respondent);
CREATE INDEX survey_response_journey_hall ON survey_response (journey_key, hall_id, visit_date, purpose);

CREATE TRIGGER survey_response_answers_go_with_it AFTER DELETE ON survey_response
BEGIN
    DELETE FROM response_rating WHERE hall_id = old.hall_id AND response_id = old.id;
    DELETE FROM response_need WHERE hall_id = old.hall_id AND response_id = old.id;
END;
