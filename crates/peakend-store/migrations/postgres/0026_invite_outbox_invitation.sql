-- The invitation senders (issue 22): the minute sweep holds a reminder back while its
-- invitation's own entry has not left, and closes the unsent entries of expired
-- invitations; both look entries up by invitation.
CREATE INDEX invite_outbox_invitation ON invite_outbox (invitation_id, kind);
