-- Fraction of the server's NOTIFY queue in use (0..1). It fills when a listening
-- session sits in a long transaction and stops consuming; at 1 every NOTIFY fails.
SELECT pg_notification_queue_usage()
