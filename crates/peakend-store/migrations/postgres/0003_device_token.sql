-- Device tokens: a hall's devices post events with one. Only a SHA-256 of the token is
-- kept: tokens are 256 random bits, so a fast hash is enough (a slow password hash
-- would only slow every batch of events down).
CREATE TABLE device_token (
    token_sha256 TEXT PRIMARY KEY,
    hall_id      TEXT NOT NULL REFERENCES org_node (id),
    created_at   BIGINT NOT NULL
);
CREATE INDEX device_token_hall ON device_token (hall_id);
