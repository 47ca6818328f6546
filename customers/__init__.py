"""Customers: workspaces, API keys (authentication, rate limits), customers, their
identities and events; and the ground every other app stands on (public ids, API
errors, the API view base, row writes)."""
