"""Dialects: the trigger APIs of other products, served under ``/compat/<name>/``.

Teams move here from those products; each dialect answers as its vendor's documentation
says (its seed in the design), so that a client changes its base URL and nothing else.
A dialect is a thin adapter: it reads its vendor's request, calls the one trigger
service (:func:`journeys.entry.service.journey_trigger`) and writes its vendor's answer.
Entry rules, idempotency and rate limits are the service's and the native API's.

The workspace is the API key's: dialect paths carry no workspace id.
"""
