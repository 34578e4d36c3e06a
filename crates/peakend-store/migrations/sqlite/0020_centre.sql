-- Issue 22: a contact centre is an org node of level `centre`. SQLite cannot alter a
-- CHECK constraint, so org_node is rebuilt inside the migration's transaction (where
-- `PRAGMA foreign_keys` cannot be turned off): with the foreign keys deferred, dropping
-- the table leaves its children's references counted as open, and putting the same
-- rows back into the new table closes every one of them before the commit checks.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE org_node_copy AS SELECT * FROM org_node;
DROP TABLE org_node;
CREATE TABLE org_node (
    id        TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES org_node (id) DEFERRABLE INITIALLY DEFERRED,
    level     TEXT NOT NULL CHECK (level IN ('province', 'city', 'district', 'hall', 'centre')),
    name      TEXT NOT NULL,
    counters  INTEGER NOT NULL DEFAULT 0,
    kiosks    INTEGER NOT NULL DEFAULT 0,
    position  INTEGER NOT NULL,
    tz        TEXT
);
INSERT INTO org_node (id, parent_id, level, name, counters, kiosks, position, tz)
    SELECT id, parent_id, level, name, counters, kiosks, position, tz FROM org_node_copy;
DROP TABLE org_node_copy;
CREATE INDEX org_node_parent ON org_node (parent_id);
