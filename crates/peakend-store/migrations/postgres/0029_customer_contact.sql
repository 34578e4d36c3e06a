-- Issue 22: one row per ended contact of a known customer (a visit's service_ended, a
-- call's call_ended, an app transaction), written by the ingest in its transaction: the
-- customer's timeline across channels. Only the salted key, never a number; rows older
-- than the retention are deleted by the minute sweep.
CREATE TABLE customer_contact (
    contact_id   TEXT PRIMARY KEY,
    customer_key TEXT NOT NULL,
    channel      TEXT NOT NULL,
    hall_id      TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    outcome      TEXT,
    resolved     INTEGER NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX customer_contact_customer_at ON customer_contact (customer_key, at);
CREATE INDEX customer_contact_at ON customer_contact (at);
