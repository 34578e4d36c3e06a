-- Issue 22, the survey programme's reports: response rates read the invitations of a
-- period by their decision time, and an answer joins its invitation by the hall and
-- the respondent the invitation's link gave it (`inv-{id}`).
CREATE INDEX invitation_decided ON invitation (decided_at);
CREATE INDEX survey_response_hall_respondent ON survey_response (hall_id, respondent);
