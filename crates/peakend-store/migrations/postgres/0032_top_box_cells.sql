-- Issue 23: the survey cells count the fully satisfied (overall 10) for the value
-- tiers; cells stored before lack the count, so the store folds the responses into
-- them again when it next opens the database (the task of 0008).
INSERT INTO store_task (task)
SELECT 'rebuild_purpose_cells'
WHERE EXISTS (SELECT 1 FROM survey_response)
  AND NOT EXISTS (SELECT 1 FROM store_task WHERE task = 'rebuild_purpose_cells');
