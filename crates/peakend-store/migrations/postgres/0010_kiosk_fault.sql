-- A hall's kiosk faults as state that outlives a day (issue 18): written by the ingest
-- in the batch's transaction from the kiosk_fault and kiosk_restored events it applies,
-- read when a day is replayed so that a fault reported on Friday is still open on
-- Monday and its repair deadline comes due on the working day it falls on.
CREATE TABLE kiosk_fault (
    hall_id     TEXT NOT NULL,
    kiosk       TEXT NOT NULL,
    fault_at    BIGINT NOT NULL,
    offset_s    INTEGER NOT NULL,
    fault       TEXT NOT NULL,
    restored_at BIGINT,
    PRIMARY KEY (hall_id, kiosk, fault_at)
);
CREATE INDEX kiosk_fault_hall_at ON kiosk_fault (hall_id, fault_at);
