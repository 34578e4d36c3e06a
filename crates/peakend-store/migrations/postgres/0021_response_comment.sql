-- Free-text comments on survey responses (issue 22). The respondent's contact is
-- never stored here: only on the case a bad answer or a negative comment opens.
ALTER TABLE survey_response ADD COLUMN comment TEXT;
-- The comments of a journey are read together (the analysis page, `survey comments`).
CREATE INDEX survey_response_comment ON survey_response (journey_key, visit_date)
    WHERE comment IS NOT NULL;
