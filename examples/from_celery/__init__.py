"""A Celery application moved to pgqueue by changing its imports and its app object."""
