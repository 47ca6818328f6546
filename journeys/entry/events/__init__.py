"""The event stream: tracked events (Segment's spec) stored, then matched with the live
journeys they trigger.

- :mod:`.messages`: the Segment shapes read into messages, with the limits;
- :mod:`.parsers`: the request body (gzip, size limits);
- :mod:`.service`: :func:`~.service.events_ingest`, what every events endpoint calls:
  the batch's people, groups and events stored in one transaction
  (:mod:`customers.tracking`), matching kicked after the commit;
- :mod:`.matching`: the set-based match, in a task, recoverable by beat;
- :mod:`.api`: the native ``events/track | identify | group | batch`` endpoints. The
  Segment dialect (``journeys.entry.dialects.segment``) serves the same messages at
  Segment's paths.
"""
