-- The current state of each requested id (missing ids simply have no row).
SELECT id, state FROM pgqueue.jobs WHERE id = ANY(%(ids)s)
