-- Issue 24: every text column compares byte by byte (COLLATE "C"), as SQLite's BINARY
-- does. A database created with a locale (en_US.UTF-8, even C.UTF-8) made each B-tree
-- step on a hall or event id a locale comparison (strcoll): on a busy ingest ~10 % of
-- the database's time went to the keys of visit_event and service_case. Ordering by a
-- text column is now the same on both backends. A column compared with one of a
-- table created later (in the database's default collation) takes this one's "C",
-- so joins need no COLLATE clause; new tables should still declare COLLATE "C" on
-- their indexed text columns.
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.table_name, c.column_name
    FROM information_schema.columns c
    JOIN information_schema.tables t USING (table_schema, table_name)
    WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
      AND c.data_type = 'text' AND c.table_name NOT LIKE '\_sqlx%'
      AND c.collation_name IS DISTINCT FROM 'C'
  LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE text COLLATE "C"',
                   r.table_name, r.column_name);
  END LOOP;
END $$;
