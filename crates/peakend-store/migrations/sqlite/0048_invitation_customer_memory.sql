-- Issue 22, deciding a province's day of invitations: the suppression check reads
-- each customer's latest invitation from the decider's memory, caught up from the
-- table by id in each decision's transaction (`sql::invitations::LastInvited`), not
-- from this index, whose random key cost every decision a page write. An opt-out
-- finds the customer's held invitations and unsent outbox entries through the status
-- and outbox indexes (a few days' worth), not by the customer.
DROP INDEX invitation_customer_live;
