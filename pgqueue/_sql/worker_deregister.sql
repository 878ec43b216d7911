-- A worker that stopped cleanly removes its registry row (its jobs were handed back first).
DELETE FROM pgqueue.workers WHERE id = %(worker)s
