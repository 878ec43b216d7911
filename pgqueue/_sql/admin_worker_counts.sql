-- `pgqueue stats`: what the jobs table does not record, from the workers' rows. Each worker
-- keeps its running totals in meta->'counts' at every heartbeat (heartbeat.sql): running
-- jobs handed back at shutdown, jobs of unknown tasks handed back untouched, jobs of dead
-- workers its rescuer gave back. The sums cover the workers registered now (live ones,
-- and dead ones until the rescuer forgets them); a worker that stopped cleanly took its
-- row, and its totals, with it. Rows of releases that kept no counts add nothing.
-- Plus the running jobs whose lease has expired right now (the next rescue gives them
-- back): a range of jobs_lease_idx.
SELECT count(*) FILTER (WHERE expires_at > now() AND NOT stopping) AS live,
       count(*) AS registered,
       coalesce(sum((meta -> 'counts' ->> 'handed_back')::bigint), 0) AS handed_back,
       coalesce(sum((meta -> 'counts' ->> 'unknown_handed_back')::bigint), 0) AS unknown_handed_back,
       coalesce(sum((meta -> 'counts' ->> 'rescued')::bigint), 0) AS rescued,
       (SELECT count(*) FROM pgqueue.jobs WHERE state = 'running' AND lease_expires_at < now())
           AS expired_leases
FROM pgqueue.workers
