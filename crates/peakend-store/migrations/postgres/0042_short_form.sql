-- Issue 22: whether a response was answered on the short form (a purpose's peaks and
-- end asked of everyone, a random few of the other moments). The analysis weighs such
-- answers by purpose; a roll-up rebuilt from the responses must know which they are.
-- Responses stored before were all long-form answers: the short form's answers went
-- in unmarked, and the few there are count as long-form ones.
ALTER TABLE survey_response ADD COLUMN short_form BOOLEAN NOT NULL DEFAULT false;
