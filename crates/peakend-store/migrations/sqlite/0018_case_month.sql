-- Case KPIs over months read each hall's month of cases once: `case_month` keeps the
-- figures of a hall's cases opened in a UTC month (JSON, `CaseFigures` without what
-- depends on the time of reading), valid while `figures_version` equals `version`,
-- which every write of one of those cases bumps. A stale month is counted again, in
-- one pass for all its stale halls, when a report next needs it.
CREATE TABLE case_month (
    hall_id         TEXT NOT NULL,
    month           BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    figures         TEXT,
    figures_version BIGINT,
    PRIMARY KEY (hall_id, month)
);
INSERT INTO case_month (hall_id, month, version)
SELECT DISTINCT hall_id, (CAST(strftime('%s', date(opened_at / 1000, 'unixepoch', 'start of month')) AS INTEGER) * 1000), 1 FROM service_case;

-- Whether the case's customer (by contact) had another case in the 30 days before it,
-- decided when it opens: it stays countable after the contact is erased.
ALTER TABLE service_case ADD COLUMN repeat_contact INTEGER NOT NULL DEFAULT 0;
UPDATE service_case SET repeat_contact = 1
WHERE contact_key IS NOT NULL AND EXISTS (
    SELECT 1 FROM service_case p
    WHERE p.contact_key = service_case.contact_key
      AND p.opened_at >= service_case.opened_at - 2592000000
      AND (p.opened_at < service_case.opened_at
           OR (p.opened_at = service_case.opened_at AND p.id < service_case.id)));

-- The cases still being worked, whose deadlines a report counts at the time it reads.
CREATE INDEX service_case_active ON service_case (opened_at)
WHERE state IN ('open', 'acknowledged', 'investigating', 'resolved');
