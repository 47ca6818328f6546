"""The entries of an error's ``problems`` list, one shape for every API error.

Apart from :mod:`customers.errors` because the JSON parser builds them too, and the
parser is loaded while DRF itself loads (errors.py imports DRF).
"""

from typing import Any


def problem_entry(
    message: str, *, field: str | None = None, step: str | None = None
) -> dict[str, Any]:
    """One entry of an error's ``problems``: the message names the place, ``field`` is its
    path in the body (or None), ``step`` a journey step's key (or None)."""
    return {"step": step, "field": field, "message": message}
