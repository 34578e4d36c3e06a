-- Foundation schema (SQLite). Kept column for column in step with
-- migrations/postgres/0001_foundation.sql; see docs/architecture.md.
-- Every large table carries hall_id so PostgreSQL can later be sharded by it.

CREATE TABLE org_node (
    id        TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES org_node (id) DEFERRABLE INITIALLY DEFERRED,
    level     TEXT NOT NULL CHECK (level IN ('province', 'city', 'district', 'hall')),
    name      TEXT NOT NULL,
    counters  INTEGER NOT NULL DEFAULT 0,
    kiosks    INTEGER NOT NULL DEFAULT 0,
    position  INTEGER NOT NULL
);
CREATE INDEX org_node_parent ON org_node (parent_id);

CREATE TABLE journey (
    journey_key TEXT PRIMARY KEY,
    name_zh     TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('face_to_face', 'phone', 'remote')),
    extends     TEXT REFERENCES journey (journey_key),
    builtin     BOOLEAN NOT NULL DEFAULT FALSE,
    -- The journey file exactly as `journey export --format json` prints it.
    document    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Moments and standards are indexed out of the document so that responses can
-- reference a moment and rules can look up a threshold without parsing JSON.
CREATE TABLE journey_moment (
    journey_key TEXT NOT NULL REFERENCES journey (journey_key) ON DELETE CASCADE,
    moment_key  TEXT NOT NULL,
    position    INTEGER NOT NULL,
    stage       TEXT NOT NULL,
    importance  DOUBLE PRECISION,
    PRIMARY KEY (journey_key, moment_key)
);

CREATE TABLE journey_standard (
    journey_key     TEXT NOT NULL,
    moment_key      TEXT NOT NULL,
    standard_key    TEXT NOT NULL,
    owner           TEXT NOT NULL,
    threshold_value DOUBLE PRECISION,
    threshold_unit  TEXT,
    threshold_bound TEXT,
    PRIMARY KEY (journey_key, standard_key),
    FOREIGN KEY (journey_key, moment_key) REFERENCES journey_moment (journey_key, moment_key) ON DELETE CASCADE
);

-- Voice of the customer: one row per respondent, ratings per moment and need below.
CREATE TABLE survey_response (
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
    UNIQUE (hall_id, id),
    UNIQUE (journey_key, respondent)
);
CREATE INDEX survey_response_hall_date ON survey_response (hall_id, visit_date);

CREATE TABLE response_rating (
    hall_id      TEXT NOT NULL,
    response_id  BIGINT NOT NULL,
    journey_key  TEXT NOT NULL,
    moment_key   TEXT NOT NULL,
    importance   DOUBLE PRECISION,
    satisfaction DOUBLE PRECISION,
    PRIMARY KEY (hall_id, response_id, moment_key),
    FOREIGN KEY (hall_id, response_id) REFERENCES survey_response (hall_id, id) ON DELETE CASCADE,
    FOREIGN KEY (journey_key, moment_key) REFERENCES journey_moment (journey_key, moment_key)
);

CREATE TABLE response_need (
    hall_id     TEXT NOT NULL,
    response_id BIGINT NOT NULL,
    moment_key  TEXT NOT NULL,
    need_key    TEXT NOT NULL,
    importance  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hall_id, response_id, moment_key, need_key),
    FOREIGN KEY (hall_id, response_id) REFERENCES survey_response (hall_id, id) ON DELETE CASCADE
);

-- Live operations: device events as received (times in ms since the epoch, UTC),
-- the ones that could not be applied, and the alerts the rules raise.
CREATE TABLE visit_event (
    hall_id     TEXT NOT NULL REFERENCES org_node (id),
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (hall_id, event_id)
);
CREATE INDEX visit_event_hall_at ON visit_event (hall_id, at);

CREATE TABLE event_quarantine (
    id          INTEGER PRIMARY KEY,
    hall_id     TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX event_quarantine_hall ON event_quarantine (hall_id, received_at);

CREATE TABLE alert (
    id        INTEGER PRIMARY KEY,
    hall_id   TEXT NOT NULL REFERENCES org_node (id),
    kind      TEXT NOT NULL,
    ticket    TEXT,
    kiosk     TEXT,
    raised_at BIGINT NOT NULL,
    cleared_at BIGINT,
    acked_at  BIGINT,
    acked_by  TEXT,
    UNIQUE (hall_id, id)
);
CREATE INDEX alert_hall_open ON alert (hall_id, acked_at);

-- Closed loop: disputes, complaints, low ratings and hidden dissatisfaction,
-- each owned by its first responder until closed.
CREATE TABLE service_case (
    id              INTEGER PRIMARY KEY,
    hall_id         TEXT NOT NULL REFERENCES org_node (id),
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    moment_key      TEXT,
    first_responder TEXT,
    opened_at       BIGINT NOT NULL,
    closed_at       BIGINT,
    summary         TEXT NOT NULL,
    UNIQUE (hall_id, id)
);
CREATE INDEX service_case_hall_status ON service_case (hall_id, status);
