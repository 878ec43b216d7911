-- pgqueue bench: vacuum and analyse the job table after seeding, as autovacuum would have.
VACUUM (ANALYZE) pgqueue.jobs
