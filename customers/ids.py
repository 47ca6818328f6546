"""Public ids: Stripe-style prefixed random strings (``ws_...``, ``cus_...``, ``run_...``).

The database keeps integer primary keys for joins; public ids are what the API shows,
so that ids leak neither row counts nor ordering, and their prefix says their kind.
"""

import secrets

from django.db import connection
from django.utils.deconstruct import deconstructible

#: Hex characters after the prefix; SQL that generates ids in bulk must match it.
PUBLIC_ID_HEX_LENGTH = 32


def new_public_id(prefix: str) -> str:
    """Return ``<prefix>_<32 random hex characters>``."""
    return f"{prefix}_{secrets.token_hex(PUBLIC_ID_HEX_LENGTH // 2)}"


def public_id_sql(prefix: str) -> str:
    """SQL for a new ``<prefix>_<32 hex>`` id per row, so bulk inserts need no Python."""
    if connection.vendor == "postgresql":
        expression = "replace(gen_random_uuid()::text, '-', '')"
    else:
        expression = f"lower(hex(randomblob({PUBLIC_ID_HEX_LENGTH // 2})))"
    return f"'{prefix}_' || {expression}"


@deconstructible
class PublicId:
    """A model field default that makes a new public id with a fixed prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        return new_public_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicId) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)
