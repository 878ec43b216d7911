-- Enable or disable a schedule at runtime. Enabling clears next_fire_at so the next
-- tick is computed from now: time spent disabled is not "missed" and fires no burst.
UPDATE pgqueue.schedules
SET enabled = %(enabled)s, updated_at = now(),
    next_fire_at = CASE WHEN %(enabled)s AND NOT enabled THEN NULL ELSE next_fire_at END
WHERE name = %(name)s
RETURNING name
