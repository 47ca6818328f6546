"""Journeys: the models every part shares, and three parts, one job each.

- :mod:`journeys.authoring`: the journey definition, its checks, import/export,
  publishing and the journeys API;
- :mod:`journeys.entry`: the trigger service every caller enrolls customers through;
- :mod:`journeys.engine`: walking runs through their steps, claims, leases and timers.

Arrows run authoring -> engine and entry -> engine (a publish or a trigger starts
runs); the engine imports neither.
"""
