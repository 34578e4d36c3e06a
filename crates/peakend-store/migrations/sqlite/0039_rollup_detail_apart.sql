-- A day roll-up's breakdown (per hour, counter, staff member, tier, channel, visits:
-- `RollupDetail`, most of its size) in its own column: an overview sums thousands of
-- halls' days from `rollup` alone and need not read the breakdown; a KPI report reads
-- both.
ALTER TABLE ops_rollup ADD COLUMN detail TEXT;
UPDATE ops_rollup
   SET detail = json_extract(rollup, '$.detail'),
       rollup = json_remove(rollup, '$.detail')
 WHERE rollup IS NOT NULL AND json_type(rollup, '$.detail') = 'object';
