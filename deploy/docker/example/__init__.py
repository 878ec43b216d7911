"""The example application compose.yaml runs (PGQUEUE_APP=example.tasks:app)."""
