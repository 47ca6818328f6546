"""Sweeps that found nothing say nothing at INFO.

Beat queues the runs sweep every second and the webhook sweep every five, and Celery
logs each at INFO three times (beat's "Sending due task", the worker's "received" and
"succeeded"): in ten minutes of the embedded default, 2,216 of 2,792 lines were sweeps,
and the line a new user needs scrolled away. This filter drops those lines for the
sweeps, except a sweep's "succeeded" when it queued work (it returns how much). Anything
above INFO, and every other task, is logged as before.
"""

import logging

#: Tasks beat sends every few seconds; each returns how much work it queued.
SWEEP_TASKS = frozenset(
    {
        "journeys.tasks.runs_sweep",
        "journeys.tasks.events_match",
        "journeys.tasks.segment_presence_sweep",
        "delivery.tasks.webhook_deliveries_sweep",
    }
)

#: The loggers of the three lines (Celery passes the task's name in the record's args).
CELERY_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


class QuietSweeps(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args
        if isinstance(args, dict):  # the worker's "received" and "succeeded"
            if args.get("name") not in SWEEP_TASKS:
                return True
            return args.get("return_value") not in (None, "0")
        if isinstance(args, tuple) and len(args) == 2:  # beat's "Sending due task"
            return args[1] not in SWEEP_TASKS
        return True


def quiet_sweeps_install() -> None:
    """Filter the three loggers in this process (beat's, or a worker's)."""
    quiet = QuietSweeps()
    for name in CELERY_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
