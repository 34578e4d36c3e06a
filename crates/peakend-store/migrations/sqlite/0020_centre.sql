-- no-transaction
-- Issue 22: a contact centre is an org node of level `centre`. SQLite cannot alter a
-- CHECK constraint, so org_node is rebuilt the documented way (foreign keys off, new
-- table, copy, drop, rename, check), in its own transaction: the pragma is a no-op
-- inside one.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE org_node_new (
    id        TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES org_node (id) DEFERRABLE INITIALLY DEFERRED,
    level     TEXT NOT NULL CHECK (level IN ('province', 'city', 'district', 'hall', 'centre')),
    name      TEXT NOT NULL,
    counters  INTEGER NOT NULL DEFAULT 0,
    kiosks    INTEGER NOT NULL DEFAULT 0,
    position  INTEGER NOT NULL,
    tz        TEXT
);
INSERT INTO org_node_new (id, parent_id, level, name, counters, kiosks, position, tz)
    SELECT id, parent_id, level, name, counters, kiosks, position, tz FROM org_node;
DROP TABLE org_node;
ALTER TABLE org_node_new RENAME TO org_node;
CREATE INDEX org_node_parent ON org_node (parent_id);
COMMIT;
PRAGMA foreign_keys = ON;
