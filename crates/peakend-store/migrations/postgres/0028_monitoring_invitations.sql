-- Issue 22: call monitoring, and invitations decided in bulk.
--
-- A call-monitoring audit (kind `monitoring`) scores one recorded call of a contact
-- centre: it names the call and the agent who took it. Per-agent compliance reads a
-- centre's audits by day.
ALTER TABLE audit ADD COLUMN call_id TEXT;
ALTER TABLE audit ADD COLUMN agent TEXT;
CREATE INDEX audit_hall_day ON audit (hall_id, day);
-- A monitored call is looked up among its centre's stored events by its id: the
-- offers, answers and transfers, by the `call` field of their payload. A payload with
-- an escaped NUL (which `json ->>` cannot turn into text) is left out rather than fail
-- its ingest: such a call cannot be monitored by id.
CREATE INDEX visit_event_call ON visit_event (hall_id,
    (CASE WHEN payload ~ '\\u0000' THEN NULL ELSE payload::json ->> 'call' END))
    WHERE kind IN ('call_offered', 'call_answered', 'call_transferred');
-- Deciding invitations reads, per customer of the batch, their latest invitation that
-- counts (not suppressed), and per quota cell the invitations of its week: index
-- lookups whose cost does not grow with the invitations stored.
CREATE INDEX invitation_customer_live ON invitation (customer_key, decided_at)
    WHERE status <> 'suppressed';
CREATE INDEX invitation_cell ON invitation (segment, purpose, decided_at, hall_id)
    WHERE status <> 'suppressed';
