-- pgqueue bench (held-xmin feeder): queued jobs of the queue among the newest %(window)s
-- ids of the table. The feeder's jobs share one priority and are claimed in id order, so
-- this is min(queued, window): all a top-up decision needs. It reads one range of the
-- primary key, so it costs the same all along; a plain count through jobs_claim_idx
-- would visit every row claimed since a held snapshot began (their index entries stay),
-- several times a second, on the cores the measured worker needs.
SELECT count(*)
FROM pgqueue.jobs
WHERE id > (SELECT max(id) FROM pgqueue.jobs) - %(window)s
  AND id <= (SELECT max(id) FROM pgqueue.jobs)
  AND state = 'queued'
  AND queue = %(queue)s
