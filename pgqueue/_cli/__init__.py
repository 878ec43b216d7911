"""Command groups of the ``pgqueue`` CLI, one module per area (see pgqueue.cli)."""
