-- Every column of one job as JSON, so columns added by later revisions show up too.
SELECT to_jsonb(j) FROM pgqueue.jobs j WHERE id = %(id)s
