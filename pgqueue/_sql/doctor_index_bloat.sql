-- A cheap estimate of btree bloat on pgqueue.jobs (no pgstattuple needed): the size an
-- index would have if freshly built, from its tuple count (pg_class.reltuples, kept by
-- vacuum) and the average width of its key columns (pg_stats), against its real size.
-- Per entry: 8-byte tuple header + 4-byte line pointer + keys, pages filled to 90 percent.
-- reltuples < 0 means "never vacuumed or analysed": no estimate.
SELECT ic.relname::text AS index,
       pg_relation_size(i.indexrelid) AS bytes,
       ic.reltuples::bigint AS entries,
       CASE WHEN ic.reltuples < 0 THEN NULL ELSE
           (ceil(ic.reltuples * (12 + coalesce((
                SELECT sum(8 * ceil(s.avg_width / 8.0))
                FROM unnest(i.indkey) AS k(attnum)
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                JOIN pg_stats s ON s.schemaname = 'pgqueue' AND s.tablename = 'jobs'
                               AND s.attname = a.attname), 8))
                / (current_setting('block_size')::bigint * 0.9)) + 1)
           * current_setting('block_size')::bigint
       END AS ideal_bytes
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = 'pgqueue.jobs'::regclass
ORDER BY 2 DESC
