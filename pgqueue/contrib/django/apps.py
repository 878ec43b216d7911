"""The Django app config: imports every installed app's ``tasks`` module at start-up."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules

TASKS_MODULE = "tasks"


class PgqueueConfig(AppConfig):
    name = "pgqueue.contrib.django"
    label = "pgqueue"
    verbose_name = "pgqueue"

    def ready(self) -> None:
        # Like admin.py: each app's tasks.py registers its tasks on get_app() when
        # imported, so enqueue-by-name and workers know every task of the project.
        autodiscover_modules(TASKS_MODULE)
