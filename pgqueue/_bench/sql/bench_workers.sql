-- pgqueue bench: worker processes registered and not stopping (start-up is done).
SELECT count(*) FROM pgqueue.workers WHERE NOT stopping
