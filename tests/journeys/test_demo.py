"""The embedded default's demo keeps its API key across restarts, so a saved curl line
keeps working (issue 10, section 6)."""

import stat

import pytest
from django.utils import timezone

from customers.models import ApiKey
from journeys.authoring.demo import demo_key_path, demo_setup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def trigger_status(client, demo) -> int:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {demo.raw_api_key}")
    url = f"/api/v1/workspaces/{demo.workspace.public_id}/journeys/{demo.journey.public_id}/trigger"
    return client.post(url, {"external_id": "demo-user"}, format="json").status_code


def test_a_restart_keeps_the_demo_key(anonymous_client):
    first = demo_setup()
    second = demo_setup()

    assert second.raw_api_key == first.raw_api_key
    assert ApiKey.objects.filter(name="demo", revoked_at__isnull=True).count() == 1
    assert trigger_status(anonymous_client, second) == 202
    mode = stat.S_IMODE(demo_key_path().stat().st_mode)
    assert mode == 0o600


def test_a_revoked_or_lost_demo_key_is_replaced(anonymous_client):
    first = demo_setup()
    ApiKey.objects.filter(name="demo").update(revoked_at=timezone.now())

    second = demo_setup()
    assert second.raw_api_key != first.raw_api_key
    assert trigger_status(anonymous_client, second) == 202

    demo_key_path().unlink()
    third = demo_setup()
    assert third.raw_api_key not in (first.raw_api_key, second.raw_api_key)
    assert ApiKey.objects.filter(name="demo", revoked_at__isnull=True).count() == 1
    assert trigger_status(anonymous_client, third) == 202


def test_a_paused_demo_is_published_again_and_an_archived_one_replaced(anonymous_client):
    from journeys.authoring.services import journey_archive, journey_pause

    first = demo_setup()
    journey_pause(journey=first.journey)
    assert demo_setup().journey.pk == first.journey.pk
    assert trigger_status(anonymous_client, first) == 202

    journey_archive(journey=first.journey)
    replaced = demo_setup()
    assert replaced.journey.pk != first.journey.pk
    assert replaced.journey.name == f"{first.journey.name} (2)"
    assert trigger_status(anonymous_client, replaced) == 202
