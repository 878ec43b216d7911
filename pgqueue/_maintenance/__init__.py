"""Background services of the worker: rescue, retention, cron."""
