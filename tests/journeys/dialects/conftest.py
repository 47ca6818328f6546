"""Journeys the dialect tests invoke."""

import pytest

from tests.factories import journey_create

#: The seed's schema: one field of each of the four types.
ORDER_SCHEMA = [
    {"name": "order_id", "type": "string"},
    {"name": "order_total", "type": "number"},
    {"name": "is_first_order", "type": "boolean"},
    {"name": "order_date", "type": "datetime"},
]
#: One e-mail that shows what a run sees: the merged profile, the tenant, the data.
ORDER_MAIL = [
    {
        "key": "mail",
        "type": "send",
        "channel": "email",
        "subject": "Order {{ data.order_id | default: 'none' }}",
        "body": "Hi {{ profile.first_name | default: 'there' }} <{{ profile.email }}>"
        " of {{ tenant.name | default: 'no tenant' }}: {{ order_total | default: 0 }}",
        "next": None,
    }
]


@pytest.fixture
def order_journey(workspace):
    """Live, API-triggered, the seed's schema; re-entry allowed, so a user may be invoked
    again (Courier runs a journey for a user as often as it is invoked)."""
    return journey_create(
        workspace,
        name="Order confirmation",
        trigger={"schema": ORDER_SCHEMA},
        entry={"allow_reentry": True},
        steps=ORDER_MAIL,
        cancellation_key="order-{{ data.order_id }}",
    )
