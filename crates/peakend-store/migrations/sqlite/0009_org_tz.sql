-- An org node's own IANA time zone (issue 18), inherited by the nodes below it; NULL:
-- its parent's (Asia/Shanghai at the top).
ALTER TABLE org_node ADD COLUMN tz TEXT;
