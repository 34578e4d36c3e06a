-- Issue 22: an invitation rule may sample some queues (a call's queue, a visit's
-- service, an app transaction's purpose) at their own share: JSON {"queue": share}.
ALTER TABLE invite_rule ADD COLUMN queue_shares TEXT NOT NULL DEFAULT '{}';
-- Every lookup of a customer's invitations is of those that were sent or held (the
-- partial index of 0028); the full index only cost each decision a random write.
DROP INDEX invitation_customer;
