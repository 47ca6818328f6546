"""Entry: one trigger service (:mod:`.service`) that every trigger API calls, the
set-based entry core it ends in (:mod:`.core`), idempotency keys, the native
trigger view, the event stream (:mod:`.events`: tracked events stored, then matched
with event-triggered journeys) and the dialects."""
