-- Issue 22: first-contact resolution reads a contact centre's calls of known customers
-- from customer_contact (no longer from the day's roll-up, which would keep the keys
-- past their retention and grow with the day); only the hotline's rows pay this index.
CREATE INDEX customer_contact_hotline ON customer_contact (hall_id, at)
    WHERE channel = 'hotline';
