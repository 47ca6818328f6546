"""The Segment dialect: Segment's HTTP tracking API under ``/compat/segment/``.

``/v1/track``, ``/v1/identify``, ``/v1/group``, ``/v1/page``, ``/v1/screen``,
``/v1/alias`` and ``/v1/batch`` (and ``/v1/import``, Segment's older name for batch)
take Segment's messages, authenticated by the product's API key used as Segment's
write key, and answer ``{"success": true}``: so Segment's and RudderStack's SDKs and
pipelines feed the event stream once their host is set to ``<base>/compat/segment``.
The messages are the native event stream's (``journeys.entry.events``); what differs
from Segment is listed in ``docs/dialects/segment.md``.
"""
