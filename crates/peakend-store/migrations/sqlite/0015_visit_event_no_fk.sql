-- PostgreSQL drops visit_event's per-row check of its hall here (issue 19: the ingest
-- checks the hall before it writes). SQLite's check is one lookup in org_node's key per
-- row, a small part of its write, and dropping it would mean rebuilding the table: it
-- stays. This file keeps both migration lists in step.
SELECT 1;
