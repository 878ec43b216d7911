-- A message on the workers' control channel (pause, resume, limits); delivered at commit.
SELECT pg_notify(%(channel)s, %(payload)s)
