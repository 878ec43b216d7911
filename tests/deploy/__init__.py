"""deploy/: static checks of the files and live tests behind pgbouncer, across failover and hosts."""
