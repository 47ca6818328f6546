"""Entry: one trigger service (:mod:`.service`) that every trigger API calls, the
set-based entry core it ends in (:mod:`.core`), idempotency keys and the native
trigger view."""
