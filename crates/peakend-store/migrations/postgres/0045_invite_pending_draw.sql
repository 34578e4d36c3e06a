-- Issue 22, deciding a province's day of invitations: each queued contact keeps its
-- sample draw (`peakend_core::invitation::draw` of its id, in [0, 1)), computed as it
-- is queued, so a drain reads only the contacts some rule's share could sample (three
-- in ten at a 30 % rule) and drops the rest from the queue unread. NULL for contacts
-- queued before this column: those are read and drawn as before.
ALTER TABLE invite_pending ADD COLUMN draw DOUBLE PRECISION;
-- The queue is emptied as fast as it fills: vacuumed after every 20,000 dead rows
-- rather than after a fifth of a table that is mostly dead, so a drain does not walk
-- millions of them (where autovacuum runs; it is off on some test machines).
ALTER TABLE invite_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000);
