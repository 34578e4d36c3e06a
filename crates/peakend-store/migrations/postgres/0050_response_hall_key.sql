-- Issue 24: SQLite's survey_response drops its (hall_id, id) key, which cost its large
-- imports a random index insert per response (see migrations/sqlite/0050). PostgreSQL
-- keeps it: it is the table's primary key there (a table distributed by hall with
-- Citus needs the hall in its keys), and the legacy rating and need rows reference it.
-- This file keeps both backends' migrations numbered alike.
SELECT 1;
