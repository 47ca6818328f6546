"""The journey editor and the run history, registered with the admin site."""

from journeys.admin import journeys, runs  # noqa: F401 (registers the model admins)
