-- The ingest writes a hall's events in bulk (COPY, issue 19); checking each row's hall
-- against org_node cost a third of the write. The ingest refuses a hall that is not in
-- the organisation before it writes (`hall_rules`), and org nodes are never deleted, so
-- the per-row check is dropped.
ALTER TABLE visit_event DROP CONSTRAINT IF EXISTS visit_event_hall_id_fkey;
