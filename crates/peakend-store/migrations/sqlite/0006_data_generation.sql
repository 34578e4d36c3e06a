-- A counter that every write of survey responses, org nodes or journeys bumps in its own
-- transaction. Computed analyses are cached by it: a dashboard asks the same questions
-- again and again, and one tiny read tells whether an answer is still current, across
-- processes (a CLI import while the server runs) and servers.
CREATE TABLE data_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO data_generation (id, generation) VALUES (1, 0);
