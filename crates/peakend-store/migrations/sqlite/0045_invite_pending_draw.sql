-- Issue 22, deciding a province's day of invitations: each queued contact keeps its
-- sample draw (`peakend_core::invitation::draw` of its id, in [0, 1)), computed as it
-- is queued, so a drain reads only the contacts some rule's share could sample (three
-- in ten at a 30 % rule) and drops the rest from the queue unread. NULL for contacts
-- queued before this column: those are read and drawn as before.
ALTER TABLE invite_pending ADD COLUMN draw DOUBLE PRECISION;
