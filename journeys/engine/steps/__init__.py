"""What each step type does: one executor per type, no persistence of its own.

An executor reads the run, the step and its template context and answers with a
:class:`~journeys.engine.steps.base.StepResult`: where to go next, or to wait until a
time, or to fail. The walker (:mod:`journeys.engine.walker`) records the result.
Executors that talk to the outside world (``send``, ``webhook``) are called only after
the engine has committed the visit (and, for a send, the Message composed by
:func:`~journeys.engine.steps.send.send_compose`), so their idempotency keys survive a
crash; ``throttle`` records its own pass under a lock.
"""

from collections.abc import Callable

from journeys.engine.steps.base import RETRY_DELAYS, StepInput, StepResult
from journeys.engine.steps.branch import branch_step
from journeys.engine.steps.delay import delay_step
from journeys.engine.steps.exit import exit_step
from journeys.engine.steps.repeat import repeat_step
from journeys.engine.steps.send import ComposeError, send_compose, send_idempotency_key, send_step
from journeys.engine.steps.split import split_step
from journeys.engine.steps.throttle import throttle_step
from journeys.engine.steps.update_customer import update_customer_step
from journeys.engine.steps.wait_for_event import wait_for_event_step
from journeys.engine.steps.webhook import webhook_step

__all__ = [
    "COMMIT_FIRST",
    "EXECUTORS",
    "RECORD_AT_ONCE",
    "RETRY_DELAYS",
    "ComposeError",
    "StepInput",
    "StepResult",
    "send_compose",
    "send_idempotency_key",
]

EXECUTORS: dict[str, Callable[[StepInput], StepResult]] = {
    "send": send_step,
    "delay": delay_step,
    "branch": branch_step,
    "split": split_step,
    "webhook": webhook_step,
    "throttle": throttle_step,
    "repeat": repeat_step,
    "update_customer": update_customer_step,
    "exit": exit_step,
    "wait_for_event": wait_for_event_step,
}

#: Steps whose visit is committed before they run: they reach the outside world, or
#: record their own outcome under a lock.
COMMIT_FIRST = frozenset({"send", "webhook", "throttle"})

#: Steps whose outcome is committed as soon as it is known, not with the rest of the
#: batch: a crash must not repeat the call of every webhook walked since the last
#: commit, nor let a throttle count one run's pass twice. (A send records its outcome
#: on its Message the moment the provider answers.)
RECORD_AT_ONCE = frozenset({"webhook", "throttle"})
