-- pgqueue bench, search scenario: how many jobs in the whole table a search should find
-- (a sequential scan; only to check the answer the dashboard gave).
SELECT count(*)
FROM pgqueue.jobs
WHERE CASE WHEN %(contains)s::jsonb IS NOT NULL
           THEN args @> %(contains)s::jsonb OR kwargs @> %(contains)s::jsonb
           ELSE strpos(lower(coalesce(last_error, '')), lower(%(q)s::text)) > 0
                OR strpos(lower(args::text), lower(%(q)s::text)) > 0
                OR strpos(lower(kwargs::text), lower(%(q)s::text)) > 0 END
