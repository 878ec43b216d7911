"""pgqueue inside a Django project (extra ``pgqueue-jobs[django]``; docs/integrations.md#django).

Add ``"pgqueue.contrib.django"`` to ``INSTALLED_APPS``. Then:

* ``conn=django.db.connection`` (or ``connections[alias]``) enqueues on Django's own
  psycopg 3 connection: inside ``transaction.atomic()`` the job commits or rolls back
  with the block; outside one it commits at once, like Django's own autocommit writes.
* :func:`get_app` is the project's :class:`pgqueue.App`, its DSN taken from
  ``DATABASES`` (alias ``settings.PGQUEUE_DATABASE``, default ``"default"``), unless
  ``settings.PGQUEUE_APP = "module:attribute"`` names an App of your own.
* Each installed app's ``tasks`` module is imported at start-up (like admin.py), so
  ``@get_app().task`` functions there are registered.
* ``manage.py pgqueue_migrate`` creates/upgrades pgqueue's schema (pgqueue's own Alembic
  history, not a Django migration: the schema must be upgradable by ``pgqueue migrate``
  from any deploy tool too), ``manage.py pgqueue_work`` runs workers for this project
  (any ``pgqueue work`` option), ``manage.py pgqueue`` any other pgqueue command.
"""

from __future__ import annotations

from ._app import dsn_from_settings, get_app
from ._conn import psycopg_connection

__all__ = ["dsn_from_settings", "get_app", "psycopg_connection"]
