-- Issue 22, a province's day of invitations on PostgreSQL: as on SQLite (0048), the
-- suppression check reads each customer's latest invitation from the decider's memory,
-- caught up from the table by id in each decision's transaction. Every transaction that
-- inserts invitations holds the deciders' advisory lock until it commits, so the ids a
-- node reads past are all committed: nodes sharing the database decide alike. The
-- index's random key cost every decision a page write.
DROP INDEX invitation_customer_live;
