-- A quarantined event that came before the event it follows (a ticket called before
-- it was issued, a kiosk restored before its fault arrived) is held (issue 19): its
-- time and subject (`ticket:…` or `kiosk:…`) are kept, and the ingest judges it again
-- when an event about that subject comes, so any arrival order gives the same day.
ALTER TABLE event_quarantine ADD COLUMN at BIGINT;
ALTER TABLE event_quarantine ADD COLUMN subject TEXT;
CREATE INDEX event_quarantine_held ON event_quarantine (hall_id, at) WHERE at IS NOT NULL;
CREATE INDEX event_quarantine_subject ON event_quarantine (hall_id, subject, at)
    WHERE at IS NOT NULL;
