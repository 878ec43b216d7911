-- pgqueue bench --in-place: refuse a database that holds jobs (the bench truncates them).
SELECT EXISTS (SELECT 1 FROM pgqueue.jobs)
