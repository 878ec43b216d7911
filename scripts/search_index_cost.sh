#!/bin/bash
# What the argument search index costs at completion (docs/benchmarks.md, "Search"):
# 100k running jobs with 3 positional and 2 keyword arguments finished in batches of
# 1,000 (the completer's batch) with no argument index, 0012's token index and 0011's
# jsonb_ops index, alternated twice. Needs psql and the server on 127.0.0.1 (trust auth);
# run from the repository root. Creates and drops database pgqueue_index_cost.
set -eu
BATCHES=$(mktemp)
DB=pgqueue_index_cost
psql -h 127.0.0.1 -U postgres -qc "drop database if exists $DB" -c "create database $DB"
PGQUEUE_DSN=postgresql://postgres@127.0.0.1/$DB ${PGQUEUE:-.venv/bin/pgqueue} migrate >/dev/null
run() {
  variant=$1
  psql -h 127.0.0.1 -U postgres -d $DB -q <<SQL
TRUNCATE pgqueue.jobs RESTART IDENTITY CASCADE;
DROP INDEX IF EXISTS pgqueue.jobs_args_tokens_idx; DROP INDEX IF EXISTS pgqueue.old_idx;
$( [ $variant = tokens ] && echo "CREATE INDEX jobs_args_tokens_idx ON pgqueue.jobs USING gin (pgqueue.search_tokens(args || kwargs)) WHERE finished_at IS NOT NULL AND (args <> '[]'::jsonb OR kwargs <> '{}'::jsonb);" )
$( [ $variant = jsonb_ops ] && echo "CREATE INDEX old_idx ON pgqueue.jobs USING gin ((args || kwargs)) WHERE finished_at IS NOT NULL;" )
INSERT INTO pgqueue.jobs (task, state, attempt, args, kwargs, started_at, worker_id, lease_expires_at)
SELECT 't.x', 'running', 1, jsonb_build_array(g, 'user' || g || '@example.com', 'EUR'),
       jsonb_build_object('order_id', g, 'amount', g * 1.5), now(), gen_random_uuid(), now() + interval '1 hour'
FROM generate_series(1, 100000) AS g;
VACUUM ANALYZE pgqueue.jobs;
SQL
  start=$(date +%s.%N)
  for b in $(seq 0 99); do
    echo "UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now(), worker_id = NULL, lease_expires_at = NULL WHERE id > $((b*1000)) AND id <= $(((b+1)*1000));"
  done > "$BATCHES"
  psql -h 127.0.0.1 -U postgres -d $DB -q -f "$BATCHES"
  end=$(date +%s.%N)
  echo "$variant $(echo "($end - $start) * 10" | bc -l | cut -c1-6) us/job"
}
for i in 1 2; do for v in none tokens jsonb_ops; do run $v; done; done
psql -h 127.0.0.1 -U postgres -qc "drop database $DB"
