-- pgqueue bench, drain-transactional: business rows written (one per job when correct).
SELECT count(*) FROM public.bench_effects
