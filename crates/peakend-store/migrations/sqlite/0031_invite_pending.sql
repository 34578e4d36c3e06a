-- Issue 22: the contacts an API ingest ended, queued in the ingest's own transaction
-- for their survey invitations, so an accepted contact is never lost between the
-- events' commit and its decision; the server decides the queue in bulk (oldest first)
-- and empties it in the decision's transaction.
CREATE TABLE invite_pending (
    id           INTEGER PRIMARY KEY,
    contact_id   TEXT NOT NULL,
    hall_id      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    customer_key TEXT,
    segment      TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    staff        TEXT,
    counter      TEXT,
    wait_s       BIGINT,
    outcome      TEXT,
    ended_at     BIGINT NOT NULL
);
