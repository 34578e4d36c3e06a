-- Survey roll-ups: the mergeable statistics of a journey's responses per
-- (hall, month, segment), kept up to date by every import in the same transaction,
-- so analyses of whole months merge cells instead of rescanning responses.
-- `stats` is the JSON of peakend_core::analysis::SegmentStats.
CREATE TABLE survey_rollup (
    hall_id     TEXT NOT NULL REFERENCES org_node (id),
    journey_key TEXT NOT NULL REFERENCES journey (journey_key),
    period      TEXT NOT NULL,
    segment     TEXT NOT NULL,
    respondents BIGINT NOT NULL,
    stats       TEXT NOT NULL,
    PRIMARY KEY (hall_id, journey_key, period, segment)
);
CREATE INDEX survey_rollup_journey_period ON survey_rollup (journey_key, period);
