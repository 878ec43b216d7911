-- All dependency edges of a workflow in one statement (arrays of equal length).
INSERT INTO pgqueue.job_dependencies (job_id, depends_on, position)
SELECT * FROM unnest(%(job_ids)s::bigint[], %(parent_ids)s::bigint[], %(positions)s::int[])
