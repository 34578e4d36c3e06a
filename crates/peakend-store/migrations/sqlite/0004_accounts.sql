-- Accounts of the dashboard: each user has one role and one org node and sees that
-- node and below. Passwords are kept only as argon2 hashes (PHC strings).
CREATE TABLE app_user (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    org_id        TEXT NOT NULL REFERENCES org_node (id),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Sessions live in the database so that a restart or a second server keeps them. The
-- cookie holds 256 random bits; only their SHA-256 is stored. Each session has its own
-- CSRF token, which every form and every cookie-authenticated POST must carry.
CREATE TABLE user_session (
    token_sha256 TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES app_user (name) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX user_session_user ON user_session (user_name);
