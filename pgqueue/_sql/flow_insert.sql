-- One job of a workflow. Rows that wait for dependencies start 'waiting' with their
-- pending count; the release trigger (migration 0003) turns them 'queued' in the
-- transaction that finishes their last dependency. has_dependents marks the rows
-- whose completion must run that trigger, so ordinary jobs never pay for it.
INSERT INTO pgqueue.jobs (queue, task, args, kwargs, priority, max_attempts, run_at,
                          unique_key, tags, state, finished_at, last_error, has_dependents,
                          pending_dependencies, on_dependency_failure, dependency_args,
                          serial_key, expires_at)
VALUES (%(queue)s, %(task)s, %(args)s, %(kwargs)s, %(priority)s, %(max_attempts)s,
        coalesce(%(run_at)s, now()), %(unique_key)s, %(tags)s, %(state)s,
        CASE WHEN %(state)s = 'cancelled' THEN now() END, %(last_error)s, %(has_dependents)s,
        %(pending)s, %(on_dependency_failure)s, %(dependency_args)s, %(serial_key)s,
        %(expires_at)s)
RETURNING id
