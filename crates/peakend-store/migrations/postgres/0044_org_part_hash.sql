-- Issue 24: with several nodes each sweeps the halls of the partitions it holds. The
-- partition is the FNV-1a hash of the hall's id modulo the partition count; the hash is
-- kept here (the u64's bits as a BIGINT), written by the org import and filled for the
-- nodes stored before at the start, so a sweep's filter is one lookup by primary key a
-- row and the partition count may change without a rewrite.
ALTER TABLE org_node ADD COLUMN part_hash BIGINT;
