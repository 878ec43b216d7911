-- `pgqueue tasks ls`: each task registered by a live worker (meta->'tasks' of its registry
-- row, written by heartbeat.sql), with how many live workers have it and which queues they
-- serve.
SELECT t.task,
       count(*)::int AS workers,
       array_agg(DISTINCT w.hostname || ':' || w.pid) AS hosts,
       (SELECT array_agg(DISTINCT q ORDER BY q)
        FROM pgqueue.workers AS w2
        CROSS JOIN LATERAL unnest(w2.queues) AS q
        WHERE w2.expires_at > now() AND NOT w2.stopping AND w2.meta -> 'tasks' ? t.task) AS queues
FROM pgqueue.workers AS w
CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(w.meta -> 'tasks', '[]'::jsonb)) AS t(task)
WHERE w.expires_at > now() AND NOT w.stopping
GROUP BY t.task
ORDER BY t.task
