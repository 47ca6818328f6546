"""Celery tasks for state webhooks: thin interfaces over :mod:`delivery.state_webhooks.sender`.

Retries are not Celery retries: a failed attempt sets ``next_attempt_at`` in the
database and the sweep, run by beat every few seconds, enqueues whatever is due. No
task ever waits on an ETA or countdown, so back-offs of hours cost no worker memory and
survive broker and worker restarts.
"""

from celery import shared_task

from delivery.state_webhooks.sender import webhook_deliveries_due, webhook_delivery_attempt

#: Deliveries enqueued per sweep. A backlog larger than this drains over several sweeps.
SWEEP_BATCH = 500


@shared_task(name="delivery.tasks.webhook_delivery_send")
def webhook_delivery_send(delivery_id: int) -> None:
    webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="delivery.tasks.webhook_deliveries_sweep")
def webhook_deliveries_sweep() -> int:
    """Enqueue a send for every due delivery; the send's claim weeds out duplicates."""
    delivery_ids = webhook_deliveries_due(limit=SWEEP_BATCH)
    for delivery_id in delivery_ids:
        webhook_delivery_send.delay(delivery_id)
    return len(delivery_ids)
