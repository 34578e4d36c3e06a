-- Sign-ins and failed attempts (issue 19), for an administrator to read. The address
-- is personal data of the staff member: kept 90 days (the store deletes older rows as
-- it writes new ones), never logged elsewhere.
CREATE TABLE sign_in (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    address   TEXT,
    outcome   TEXT NOT NULL
);
CREATE INDEX sign_in_at ON sign_in (at);
