-- Issue 22: a centre-day's roll-up no longer keeps its known customers' calls (their
-- keys would outlive the timeline's retention); first-contact resolution reads them
-- from customer_contact. The lists already stored are taken out.
UPDATE ops_rollup SET rollup = json_remove(rollup, '$.calls.contacts')
WHERE rollup LIKE '%"contacts":%';
