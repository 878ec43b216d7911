-- The LISTEN connection's liveness check after a quiet spell: the cheapest round trip there
-- is. Its only job is to prove that the server still answers on this socket (a half-open
-- connection never does; the caller's deadline then cuts it). Notifications that arrive
-- meanwhile are kept by psycopg and delivered by the next notifies() call.
SELECT 1
