-- Issue 22: when the invited contact ended (the answer's visit date, in the hall's
-- zone), and the answer an invitation's link brought (`response_id` holds its
-- respondent, `inv-{invitation id}`), looked up from the response side.
ALTER TABLE invitation ADD COLUMN ended_at BIGINT;
CREATE INDEX invitation_response ON invitation (response_id);
