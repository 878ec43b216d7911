-- The server process's pid: equal to the pid of the connection's BackendKeyData only on a
-- direct connection (a pooler such as pgbouncer hands the client a key of its own).
SELECT pg_backend_pid()
