"""Background services of the worker: rescue, retention, cron (pgqueue._maintenance.service)."""
