-- Pause or resume a queue; the row is created on first use (queues need no setup).
-- Workers learn it from the control channel at once and from the queues table on
-- their next claim.
INSERT INTO pgqueue.queues AS q (name, paused) VALUES (%(name)s, %(paused)s)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = now()
RETURNING name, paused
