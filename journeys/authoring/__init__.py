"""Authoring: the journey definition (parse, normalise, check), import and export,
the lifecycle (publish, pause, archive) and the journeys API over them."""
