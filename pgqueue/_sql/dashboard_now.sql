-- The database clock, so chart buckets and ages agree with finished_at.
SELECT extract(epoch FROM now())::double precision
