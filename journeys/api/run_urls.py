"""Trigger and run routes."""

urlpatterns: list = []
