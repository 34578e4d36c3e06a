-- Issue 22: PostgreSQL drops its customer index on invitations, as SQLite did in 0048
-- (see migrations/postgres/0049); this file keeps both backends' migrations numbered
-- alike.
SELECT 1;
