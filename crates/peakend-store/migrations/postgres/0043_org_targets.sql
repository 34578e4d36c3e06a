-- Issue 25: the headline targets an org node sets for itself and the nodes below it
-- (NPS −100…100, satisfaction index 0…100, whole numbers; NULL: its parent's).
ALTER TABLE org_node ADD COLUMN nps_target INTEGER;
ALTER TABLE org_node ADD COLUMN index_target INTEGER;
