-- Issue 22: SQLite drops its customer index on invitations (see migrations/sqlite/0048:
-- a single deciding process remembers each customer's latest invitation). Several
-- PostgreSQL nodes decide, so each reads the index; this file keeps both backends'
-- migrations numbered alike.
SELECT 1;
