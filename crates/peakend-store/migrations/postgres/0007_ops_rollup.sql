-- Each hall's day of operations reduced to the sums behind its day KPIs and its waiting
-- tickets (peakend_core::ops::rollup::DayRollup as JSON), written by the ingest in the
-- transaction that stores the day's events: an overview of a province sums these rows
-- instead of replaying every hall's events. `day` is the local date at +08:00, the
-- halls' time. A NULL roll-up marks a day that must be replayed: days stored before
-- this table, and batches whose events were not all of one such day.
CREATE TABLE ops_rollup (
    hall_id TEXT NOT NULL REFERENCES org_node (id),
    day     TEXT NOT NULL,
    rollup  TEXT,
    PRIMARY KEY (hall_id, day)
);
CREATE INDEX ops_rollup_day ON ops_rollup (day);
INSERT INTO ops_rollup (hall_id, day)
SELECT DISTINCT hall_id, to_char(to_timestamp((at + 28800000) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM visit_event;
