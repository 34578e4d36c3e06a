-- Post-contact survey invitations (issue 22).
--
-- An org node's invitation rule; a contact takes its nearest ancestor's (hall, else
-- district, city, province). Quotas as JSON [[segment, purpose, n], …]; quiet hours as
-- local "HH:MM-HH:MM" or NULL.
CREATE TABLE invite_rule (
    node_id       TEXT PRIMARY KEY REFERENCES org_node (id),
    share         DOUBLE PRECISION NOT NULL,
    quotas        TEXT NOT NULL,
    suppress_days BIGINT NOT NULL,
    quiet         TEXT,
    updated_at    BIGINT NOT NULL
);
-- One row per decision (sent, suppressed, held; expired and answered later), with the
-- visit's operational facts so an answer joins them. Only the customer's salted key,
-- never a number; only the SHA-256 of the link's token.
CREATE TABLE invitation (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall_id       TEXT NOT NULL,
    contact_id    TEXT NOT NULL UNIQUE,
    customer_key  TEXT,
    segment       TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    staff         TEXT,
    counter       TEXT,
    wait_s        BIGINT,
    outcome       TEXT,
    decided_at    BIGINT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT,
    token_hash    TEXT UNIQUE,
    send_at       BIGINT,
    expires_at    BIGINT,
    reminded_at   BIGINT,
    response_id   TEXT
);
CREATE INDEX invitation_hall_decided ON invitation (hall_id, decided_at);
CREATE INDEX invitation_customer ON invitation (customer_key, decided_at);
CREATE INDEX invitation_status ON invitation (status, send_at);
CREATE TABLE invite_optout (
    customer_key  TEXT PRIMARY KEY,
    at_ms         BIGINT NOT NULL
);
-- What the minute sweep hands to the sender: durable, so nothing decided is lost.
CREATE TABLE invite_outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invitation_id BIGINT NOT NULL REFERENCES invitation (id),
    kind          TEXT NOT NULL,
    -- The link's token until it is sent, then NULL: only its hash stays.
    token         TEXT,
    due_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    sent_at       BIGINT,
    last_error    TEXT
);
CREATE INDEX invite_outbox_due ON invite_outbox (sent_at, due_at);
