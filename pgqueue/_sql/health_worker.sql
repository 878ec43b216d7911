-- `pgqueue health --worker`: live worker processes registered from one host. A heartbeat
-- pushes expires_at forward, so a process that stopped beating (frozen, killed) drops out
-- once its registration expires, without any clock on the probe's side.
SELECT count(*) FROM pgqueue.workers WHERE hostname = %(hostname)s AND expires_at > now()
