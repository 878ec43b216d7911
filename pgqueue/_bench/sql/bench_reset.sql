-- pgqueue bench: empty the scratch database's job table between scenarios (never run
-- outside a scratch or explicitly chosen bench database).
TRUNCATE pgqueue.jobs, pgqueue.workers CASCADE
