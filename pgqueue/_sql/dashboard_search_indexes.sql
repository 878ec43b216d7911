-- Whether the trigram index on last_error exists (migration 0011 builds it only where
-- pg_trgm is available): without it an error text search stays in the bounded window.
SELECT to_regclass('pgqueue.jobs_error_search_idx') IS NOT NULL AS error_index
