"""What the delivery app tells the apps above it (it never imports those apps)."""

from django.dispatch import Signal

#: An ESP reported engagement with a message (delivered, opened, clicked, bounced,
#: complained, unsubscribed), sent inside the transaction that recorded it, once per
#: report. Arguments: ``message`` (a :class:`delivery.models.Message`), ``event``
#: (the customer event's name, ``email.opened``), ``properties`` (dict),
#: ``occurred_at`` (aware datetime) and ``key`` (unique to the report: the customer
#: event's idempotency key).
message_engagement = Signal()
