-- Service cases, the closed loop (issue 20). The foundation's placeholder table was
-- never written; it is replaced by one that carries the loop: state and version (a
-- stale write is refused), the first-asked owner, the deadlines of each stage, the
-- org node whose inbox the case is in (it moves up the tree when a deadline passes),
-- the callback and the customer's contact (erased on schedule, the case kept).
DROP INDEX service_case_hall_status;
DROP TABLE service_case;
CREATE TABLE service_case (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall_id           TEXT NOT NULL REFERENCES org_node (id),
    source            TEXT NOT NULL,
    -- What opened it (a ticket of a day, an event, a response, an import row): a case
    -- opens once per cause.
    cause             TEXT NOT NULL,
    ticket            TEXT,
    response_id       TEXT,
    moment_key        TEXT NOT NULL,
    severity          TEXT NOT NULL,
    summary           TEXT NOT NULL,
    contact           TEXT,
    -- SHA-256 of the normalised contact: repeat cases of one customer, erased with it.
    contact_key       TEXT,
    state             TEXT NOT NULL,
    version           BIGINT NOT NULL,
    owner             TEXT,
    level_id          TEXT NOT NULL REFERENCES org_node (id),
    escalations       INTEGER NOT NULL DEFAULT 0,
    opened_at         BIGINT NOT NULL,
    acknowledge_due   BIGINT NOT NULL,
    resolve_due       BIGINT NOT NULL,
    callback_due      BIGINT,
    -- When the running stage next escalates; NULL when no clock runs.
    due_at            BIGINT,
    acknowledged_at   BIGINT,
    resolved_at       BIGINT,
    followed_up_at    BIGINT,
    closed_at         BIGINT,
    reopened          INTEGER NOT NULL DEFAULT 0,
    root_cause        TEXT,
    good_faith        INTEGER,
    recovery          INTEGER,
    recommend         INTEGER,
    callback_token    TEXT,
    contact_erased_at BIGINT,
    UNIQUE (hall_id, source, cause)
);
CREATE INDEX service_case_due ON service_case (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX service_case_hall ON service_case (hall_id, opened_at);
CREATE INDEX service_case_level ON service_case (level_id, opened_at);
CREATE INDEX service_case_owner ON service_case (owner, opened_at);
CREATE INDEX service_case_contact ON service_case (contact_key, opened_at) WHERE contact_key IS NOT NULL;
CREATE UNIQUE INDEX service_case_token ON service_case (callback_token) WHERE callback_token IS NOT NULL;
CREATE INDEX service_case_erase ON service_case (closed_at) WHERE contact IS NOT NULL;

-- Each case's timeline, append-only: opened, moved, assigned, escalated, called back.
CREATE TABLE case_event (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id    BIGINT NOT NULL REFERENCES service_case (id),
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT,
    note       TEXT
);
CREATE INDEX case_event_case ON case_event (case_id, id);

-- Webhook receivers and the outbox of deliveries, written in the transaction of the
-- change they announce and sent by a worker with retries, so a slow or failing
-- receiver never holds up a request.
CREATE TABLE webhook (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE webhook_delivery (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id   BIGINT NOT NULL REFERENCES webhook (id) ON DELETE CASCADE,
    event        TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error   TEXT
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (next_at) WHERE delivered_at IS NULL;

-- The staff code a user serves under at the counter (the device events' `staff`): the
-- first-asked owner of a case about a visit they served.
ALTER TABLE app_user ADD COLUMN staff TEXT;
CREATE INDEX app_user_staff ON app_user (org_id, staff);
