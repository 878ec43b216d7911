"""CPU per no-op job of an in-process Worker.run() draining N jobs (stop_when_idle,
concurrency 100), variants alternated round by round: 'name' (claim rows matched to JobRow
by column name, as shipped), 'position' (the earlier decode by fixed positions swapped in),
'notiming' (statement timing off).

    python scripts/claim_decode_cpu.py postgresql://.../scratch_db 50000 8 name,position

The database must be migrated and scratch: its jobs table is truncated each round."""
import sys, time, uuid, statistics
import psycopg
import pgqueue
from pgqueue._worker import claims, timing, claim_rows
from pgqueue.job import JobRow, JobState

DSN = sys.argv[1]
N = int(sys.argv[2])
ROUNDS = int(sys.argv[3])
VARIANTS = sys.argv[4].split(",")

def positional(cursor):
    def make(values):
        if values[0] is None:
            return claim_rows.Marker(values[1], None if values[9] is None or values[11] is None else (values[9] - values[11]).total_seconds())
        fields = list(values)
        fields[6] = JobState(fields[6])
        return JobRow(*fields)
    return make

app = pgqueue.App(dsn=DSN)
@app.task(name="cpu.noop")
def noop(): return None

orig_factory, orig_record = claims.claim_row, timing.record
def run(variant):
    claims.claim_row = positional if variant == "position" else orig_factory
    timing.record = (lambda *a, **k: None) if variant == "notiming" else orig_record
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute("TRUNCATE pgqueue.jobs CASCADE")
        c.execute("INSERT INTO pgqueue.jobs (queue, task) SELECT 'default', 'cpu.noop' FROM generate_series(1, %s)", (N,))
        c.execute("VACUUM ANALYZE pgqueue.jobs")
    w = pgqueue.Worker(app, concurrency=100, stop_when_idle=True)
    t0 = time.process_time()
    w.run()
    return (time.process_time() - t0) / N * 1e6

res = {}
for r in range(ROUNDS):
    for v in VARIANTS:
        res.setdefault(v, []).append(run(v))
for v, xs in res.items():
    print(v, f"median {statistics.median(xs):.1f} us/job", [round(x, 1) for x in xs])
