-- Existing jobs gain a dependent. The UPDATE row-locks them until the caller commits,
-- so a parent cannot finish between reading its state here and inserting the edge
-- (its completion waits for us, then its trigger sees the edge).
UPDATE pgqueue.jobs SET has_dependents = true
WHERE id = ANY(%(ids)s)
RETURNING id, state
