"""serial_turn(): the serial-key test of the claims, as one function.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

Every claim (claim.sql, claim_bounded.sql, claim_limited.sql) lets a job with a
serial_key start only when it is the oldest live job of its key and no job of its key
runs. Written inline, the two NOT EXISTS subqueries were planned on every claim (about
0.1 ms of a claim's 0.25 ms planning) although most jobs have no key. As a STABLE
function the test runs with the claim's own snapshot, only for rows that have a key
(``serial_key IS NULL OR pgqueue.serial_turn(...)``), and costs the planner nothing.

Safe beside live workers: a new function; old workers keep their inline test.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE FUNCTION pgqueue.serial_turn(key text, job_id bigint) RETURNS boolean
    LANGUAGE plpgsql STABLE STRICT AS $$
    BEGIN
        -- Both are index probes (jobs_serial_idx, jobs_serial_running_idx).
        RETURN NOT EXISTS (SELECT FROM pgqueue.jobs AS s
                           WHERE s.serial_key = key
                             AND s.state IN ('waiting', 'queued', 'running')
                             AND s.id < job_id)
           AND NOT EXISTS (SELECT FROM pgqueue.jobs AS r
                           WHERE r.serial_key = key AND r.state = 'running');
    END
    $$
    """,
]

DOWNGRADE = [
    "DROP FUNCTION IF EXISTS pgqueue.serial_turn(text, bigint)",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
