-- Issue 23: the competitive assessment's optional item per moment (the respondent's
-- satisfaction with a competitor's service there, 1–10), kept with the answer's
-- ratings so that cells rebuilt from the stored answers keep it.
ALTER TABLE response_rating ADD COLUMN competitor DOUBLE PRECISION;
