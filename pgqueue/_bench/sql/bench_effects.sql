-- pgqueue bench, drain-transactional: the business table its tasks write one row each to.
CREATE TABLE IF NOT EXISTS public.bench_effects (job_id bigint NOT NULL)
