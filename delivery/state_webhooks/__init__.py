"""State webhooks: run and journey events delivered to a workspace's own endpoints.

The engine records an event in the same transaction as the state change it reports
(the outbox pattern), so a committed change always has its deliveries and a rolled-back
one never does. Delivery happens later, outside any transaction: a task claims one
delivery row with a short lease, sends it, and writes the outcome. Retries are durable
timers (``next_attempt_at``) found by a beat-driven sweep, so a back-off spanning a day
holds nothing in a worker's memory and survives a broker or worker restart.

Requests follow Standard Webhooks (https://www.standardwebhooks.com/): the body is
``{"type", "timestamp", "data"}`` and the ``webhook-id`` / ``webhook-timestamp`` /
``webhook-signature`` headers let a receiver verify it with any Standard Webhooks
library given the endpoint's ``whsec_`` secret.

Three modules, one job each: :mod:`.endpoints` (the endpoints a workspace registers),
:mod:`.outbox` (recording events inside the caller's transaction) and :mod:`.sender`
(claiming, signing and sending one delivery; finding the due ones).
"""
