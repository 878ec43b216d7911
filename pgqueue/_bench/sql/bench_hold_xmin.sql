-- pgqueue bench: inside a REPEATABLE READ transaction, take the snapshot that pins the
-- xmin horizon until the transaction ends (vacuum can then remove nothing newer).
SELECT count(*) FROM pgqueue.workers
