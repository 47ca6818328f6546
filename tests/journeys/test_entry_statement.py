"""A single trigger's classifying statement is compiled once per version and kept; it
must be exactly the statement the ORM would compile for that customer and moment."""

from datetime import timedelta

import pytest
from django.utils import timezone

from journeys.entry.core import _Candidates, _one_customer_template, entry_constants
from tests.factories import journey_create

pytestmark = pytest.mark.django_db

RULES = [
    {},
    {"allow_reentry": True},
    {"allow_reentry": True, "max_entries_per_customer": 3},
    {"allow_reentry": True, "reentry_cooldown_seconds": 3600, "restart_active": False},
    {"allow_reentry": True, "max_entries_per_customer": 2, "reentry_cooldown_seconds": 60},
]


@pytest.mark.parametrize("entry", RULES)
def test_the_kept_statement_is_the_one_the_orm_compiles(workspace, ada, entry):
    journey = journey_create(workspace, entry=entry)
    version = journey.live_version
    now = timezone.now() - timedelta(minutes=7)

    def candidates(**who):
        return _Candidates(
            journey=journey,
            version=version,
            now=now,
            constants=entry_constants(payload={}),
            **who,
        )

    kept = candidates(customer_pk=ada.pk).source_sql()
    compiled = candidates(customers=type(ada).objects.filter(pk=ada.pk)).source_sql()

    assert _one_customer_template(journey, version) is not None
    assert kept == compiled


def test_entry_conditions_are_compiled_per_call(workspace, ada):
    journey = journey_create(
        workspace, entry={"conditions": {"field": "data.plan", "op": "eq", "value": "pro"}}
    )
    version = journey.live_version

    candidates = _Candidates(
        journey=journey,
        version=version,
        customer_pk=ada.pk,
        customers=None,
        now=timezone.now(),
        constants=entry_constants(payload={"plan": "pro"}),
    )
    candidates.source_sql()

    assert "_one_customer_templates" not in version.__dict__
