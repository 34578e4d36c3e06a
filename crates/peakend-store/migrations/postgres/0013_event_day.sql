-- How many events each hall-day holds (issue 19), kept by the ingest in the batch's
-- transaction. The ingest keeps a hall's day in memory between batches and checks
-- here, in one indexed read, that no other writer added to the day since: counting
-- the day's rows instead cost more with every event the day held.
CREATE TABLE event_day (
    hall_id   TEXT NOT NULL,
    day_start BIGINT NOT NULL,
    events    BIGINT NOT NULL,
    PRIMARY KEY (hall_id, day_start)
);
