-- The newest job id (a primary-key probe): where a bounded search window starts.
SELECT coalesce(max(id), 0) FROM pgqueue.jobs
