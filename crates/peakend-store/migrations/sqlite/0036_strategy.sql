-- Issue 23: the strategy page. One document per org node and journey: the director's
-- feasibility per dimension, the chosen theme, sub-themes and initiatives with owners
-- (peakend_core::strategy::Strategy as JSON), replaced whole on each save.
CREATE TABLE strategy (
    org_id      TEXT NOT NULL,
    journey_key TEXT NOT NULL,
    document    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (org_id, journey_key)
);
