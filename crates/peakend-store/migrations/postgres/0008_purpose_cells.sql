-- Survey roll-ups per visit purpose (issue 5): the same mergeable statistics as
-- survey_rollup, one cell per (hall, month, segment, purpose), so that an analysis of
-- one purpose, or grouped by purpose, merges cells instead of rescanning responses.
-- `purpose` is '' for responses that name none. Imports keep these cells up to date
-- in the transaction that stores the responses, as they do survey_rollup's.
CREATE TABLE survey_rollup_purpose (
    hall_id     TEXT NOT NULL REFERENCES org_node (id),
    journey_key TEXT NOT NULL REFERENCES journey (journey_key),
    period      TEXT NOT NULL,
    segment     TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    respondents BIGINT NOT NULL,
    stats       TEXT NOT NULL,
    PRIMARY KEY (hall_id, journey_key, period, segment, purpose)
);
CREATE INDEX survey_rollup_purpose_journey ON survey_rollup_purpose (journey_key, purpose, period);

-- Work the store does in Rust when it next opens the database, once: here, folding the
-- responses stored before this table into its cells.
CREATE TABLE store_task (
    task TEXT PRIMARY KEY
);
INSERT INTO store_task (task)
SELECT 'rebuild_purpose_cells' WHERE EXISTS (SELECT 1 FROM survey_response);
