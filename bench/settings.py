"""Settings for ``bench/trigger.py``'s server: the product's own, plus the bare view's URL.

Everything (middleware, DRF defaults, database, cache) is ``config.settings``, read from
the same environment, so the trigger endpoint and the bare view run under one
configuration in one server.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
