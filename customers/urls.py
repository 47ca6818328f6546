"""Customers API routes, relative to /api/v1/workspaces/<workspace_id>/."""

urlpatterns: list = []
