-- Issue 24: SQLite's partial indexes of monitored calls and active cases are
-- rewritten without an IN list (see migrations/sqlite/0046). PostgreSQL evaluates an
-- IN list as one array test per row and keeps its indexes; this file keeps both
-- backends' migrations numbered alike.
SELECT 1;
