-- Which journey an org node lives by (issue 18): each node's own assignment; a hall
-- inherits its nearest ancestor's. Kept in step with sqlite/0011_org_journey.sql.
CREATE TABLE org_journey (
    org_id      TEXT PRIMARY KEY REFERENCES org_node (id),
    journey_key TEXT NOT NULL REFERENCES journey (journey_key),
    assigned_by TEXT NOT NULL,
    assigned_at BIGINT NOT NULL
);

-- Every change of an assignment: who, when, old and new.
CREATE TABLE org_journey_change (
    id          BIGSERIAL PRIMARY KEY,
    org_id      TEXT NOT NULL,
    old_journey TEXT,
    new_journey TEXT NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX org_journey_change_org ON org_journey_change (org_id, id);
