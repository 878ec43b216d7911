-- Running jobs cannot be stopped from here: mark them and tell the worker holding them
-- through the control channel (delivered at commit). The worker cancels the task and
-- ends the job `cancelled`; the rescuer does the same if that worker died.
WITH marked AS (
    UPDATE pgqueue.jobs
    SET cancel_requested_at = coalesce(cancel_requested_at, now())
    WHERE id = ANY(%(ids)s) AND state = 'running'
    RETURNING id, worker_id
)
SELECT m.id,
       pg_notify(%(channel)s,
                 json_build_object('action', 'cancel', 'job_id', m.id,
                                   'worker_id', m.worker_id)::text) IS NULL AS notified
FROM marked m
