-- Issue 22: a contact centre is an org node of level `centre`.
ALTER TABLE org_node DROP CONSTRAINT org_node_level_check;
ALTER TABLE org_node ADD CONSTRAINT org_node_level_check
    CHECK (level IN ('province', 'city', 'district', 'hall', 'centre'));
