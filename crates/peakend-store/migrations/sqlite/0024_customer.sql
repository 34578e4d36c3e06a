-- Issue 22: the customer key (a salted hash of the number, never the number) that
-- links a survey answer to the same customer's contacts in other channels.
ALTER TABLE survey_response ADD COLUMN customer TEXT;
CREATE INDEX survey_response_customer ON survey_response (customer);
