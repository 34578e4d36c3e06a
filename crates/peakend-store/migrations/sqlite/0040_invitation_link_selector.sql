-- Issue 22, deciding a province's day of invitations: fewer random index writes per
-- decision.
--
-- A link's token now names its invitation: `{id}.{verifier}`, the id a primary-key
-- lookup and the verifier 256 random bits whose SHA-256 is kept here and compared in
-- constant time. A new invitation's `token_hash` stays NULL, so the unique index on it
-- no longer takes a random key per decision (its NULLs go in at one end); links sent
-- before, 64 hex digits, are still looked up by that index until they expire.
ALTER TABLE invitation ADD COLUMN link_hash TEXT;
-- No query reads invitations by hall (a hall's list, the counts, the reports read by
-- decision time, status, customer or id); the index cost each decision a random write.
DROP INDEX invitation_hall_decided;
