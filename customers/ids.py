"""Public ids: Stripe-style prefixed strings (``ws_...``, ``cus_...``, ``run_...``).

The database keeps integer primary keys for joins; public ids are what the API shows,
so that ids leak no row counts, and their prefix says their kind.

After the prefix come 32 hex characters: 12 of milliseconds since the Unix epoch, then
20 random ones. The time first makes ids time-ordered, as ULIDs and UUIDv7 are: a bulk
insert of a million runs appends to the right edge of the unique index on
``public_id`` (a handful of hot pages) instead of writing all over it, which is what
random ids cost. The trade, accepted: an id tells when its row was created, to the
millisecond (the rows carry their creation time anyway). Ids are still unguessable:
knowing the millisecond leaves 20 random hex characters, 80 bits from a strong random
source (Python's ``secrets``, PostgreSQL's ``gen_random_uuid``). Ids made within one
millisecond are in no particular order; nothing relies on their order.
"""

import secrets
import time

from django.db import connection
from django.utils.deconstruct import deconstructible

#: Hex characters after the prefix; SQL that generates ids in bulk must match it.
PUBLIC_ID_HEX_LENGTH = 32
#: Of which the creation time, in milliseconds since the epoch (enough until 10889).
PUBLIC_ID_TIME_HEX_LENGTH = 12
_RANDOM_HEX_LENGTH = PUBLIC_ID_HEX_LENGTH - PUBLIC_ID_TIME_HEX_LENGTH


def new_public_id(prefix: str) -> str:
    """Return ``<prefix>_<12 hex of milliseconds since the epoch><20 random hex>``."""
    milliseconds = time.time_ns() // 1_000_000
    return (
        f"{prefix}_{milliseconds:0{PUBLIC_ID_TIME_HEX_LENGTH}x}"
        f"{secrets.token_hex(_RANDOM_HEX_LENGTH // 2)}"
    )


def public_id_sql(prefix: str) -> str:
    """SQL for a new ``<prefix>_<32 hex>`` id per row (as :func:`new_public_id` makes
    them), so bulk inserts need no Python.

    PostgreSQL reads the clock for each row (``clock_timestamp()``), so the ids of one
    long statement keep ascending. SQLite's clock stands still for a whole statement:
    its rows share the millisecond and differ by their random part.
    """
    width = PUBLIC_ID_TIME_HEX_LENGTH
    if connection.vendor == "postgresql":
        milliseconds = "floor(date_part('epoch', clock_timestamp()) * 1000)::bigint"
        clock = f"lpad(to_hex({milliseconds}), {width}, '0')"
        # 10 random bytes from one version-4 UUID (no pgcrypto): its first 13 bytes but
        # the 7th to 9th, which hold the version and variant bits.
        uuid_bytes = "uuid_send(gen_random_uuid())"
        taken = f"substring({uuid_bytes} from 1 for {_RANDOM_HEX_LENGTH // 2 + 3})"
        random = f"encode(overlay({taken} placing '' from 7 for 3), 'hex')"
    else:
        milliseconds = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        # printf's format written without a literal '%', which statements with
        # parameters would have to double and statements without must not.
        clock = f"printf(char(37) || '0{width}x', {milliseconds})"
        random = f"lower(hex(randomblob({_RANDOM_HEX_LENGTH // 2})))"
    return f"'{prefix}_' || {clock} || {random}"


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
