-- Issue 24: a response's answers in one packed value on its own row
-- (peakend_core::answers) instead of a row per moment and need element: an import of
-- 2,000,000 respondents wrote 120,000,000 rating rows. The value is read against the
-- layout (the journey's moment and need keys) it was packed with, so answers follow
-- their keys when a journey changes. Responses stored before keep their rating rows,
-- which readers still read (answers IS NULL).
CREATE TABLE answer_layout (
    id          INTEGER PRIMARY KEY,
    journey_key TEXT NOT NULL,
    -- SHA-256 of the layout's text: the text itself can be longer than an index entry.
    layout_hash TEXT NOT NULL,
    layout      TEXT NOT NULL,
    UNIQUE (journey_key, layout_hash)
);
ALTER TABLE survey_response ADD COLUMN layout_id BIGINT REFERENCES answer_layout (id);
ALTER TABLE survey_response ADD COLUMN answers BLOB;

-- Roll-up cells in bytes (peakend_core::analysis::cell) instead of JSON: a province's
-- cells were most of an import's time to print and of a cold start's to parse. Cells
-- stored before keep their JSON in `stats` until they are next merged (`cell` NULL);
-- new ones leave `stats` empty.
ALTER TABLE survey_rollup ADD COLUMN cell BLOB;
ALTER TABLE survey_rollup_purpose ADD COLUMN cell BLOB;

-- No query looks a response up by its customer key (the timeline reads
-- customer_contact); the index cost an import a random insert per response.
DROP INDEX survey_response_customer;

-- The cells stored as JSON are rewritten in bytes by the store when it next opens the
-- database (`SqlStore::cells_to_bytes`).
INSERT INTO store_task (task)
SELECT 'cells_to_bytes'
WHERE EXISTS (SELECT 1 FROM survey_rollup UNION ALL SELECT 1 FROM survey_rollup_purpose)
  AND NOT EXISTS (SELECT 1 FROM store_task WHERE task = 'cells_to_bytes');

-- Before an analysis trusts its cells it counts each hall's responses in the period
-- (rollup_snapshot): by this index, in hall order, without reading a row or sorting
-- millions of them (the first province overview after a start sorted 2,000,000).
CREATE INDEX survey_response_journey_hall ON survey_response (journey_key, hall_id, visit_date, purpose);
