"""The Celery application: ``celery -A config worker`` and ``celery -A config beat``.

Broker and schedule come from Django settings (``CELERY_*``), so the embedded default
(kombu's filesystem transport) and production (Redis) run the same code.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("journeys")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
