-- When the earliest enabled schedule is due (the scheduler sleeps until then); a NULL
-- next fire time (newly enabled) counts as due now.
SELECT min(next_fire_at) AS nearest_fire_at, bool_or(next_fire_at IS NULL) AS any_unset
FROM pgqueue.schedules WHERE enabled
