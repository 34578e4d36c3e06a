-- Issue 23: the gap model's expectation item per moment (1–10, optional), kept with the
-- answer's importance and satisfaction so that cells rebuilt from the stored answers
-- keep their gap 5.
ALTER TABLE response_rating ADD COLUMN expectation DOUBLE PRECISION;

-- Gap 1: each hall or regional manager's estimate of how much customers care about each
-- moment (one batch per manager and journey; a new one replaces the old).
CREATE TABLE importance_estimate (
    journey_key TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    role        TEXT NOT NULL,
    document    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (journey_key, user_name)
);
