"""The Celery application: ``celery -A config worker`` and ``celery -A config beat``.

Broker and schedule come from Django settings (``CELERY_*``), so the embedded default
(kombu's filesystem transport) and production (Redis) run the same code.
"""

import os

from celery import Celery

from config.quiet_sweeps import quiet_sweeps_install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("journeys")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes the database connection around every task unless told
# to reuse it; each task would then pay a new PostgreSQL session (5-9 ms here).
app.conf.CELERY_DB_REUSE_MAX = 1000
# Each app's ``tasks`` module, and the task modules of the journeys' sub-packages.
app.autodiscover_tasks()
app.autodiscover_tasks(["journeys.engine", "journeys.entry"])
quiet_sweeps_install()
