-- Ids for a COPY batch, taken from the identity column's own sequence in one round
-- trip (COPY cannot return them, and writes them like OVERRIDING SYSTEM VALUE).
-- Ascending, so jobs keep the order of the items. The sequence is resolved once,
-- not per row. The database's clock comes along to date delayed jobs with it.
SELECT array_agg(nextval(seq) ORDER BY n) AS ids, statement_timestamp() AS db_now
FROM CAST(pg_get_serial_sequence('pgqueue.jobs', 'id') AS regclass) AS seq,
     generate_series(1, %(n)s::integer) AS n
