-- How many jobs a prune would delete (dry run); same predicate as admin_prune_batch.
SELECT count(*) FROM pgqueue.jobs
WHERE state = %(state)s AND finished_at IS NOT NULL AND finished_at < %(cutoff)s
