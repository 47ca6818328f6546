"""The example journeys the README points at import, publish and round-trip exactly."""

import json
from pathlib import Path

import pytest

from journeys.authoring.documents import definition_from_journey
from journeys.authoring.services import journey_import, journey_publish

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "journeys" / "examples").glob("*.json"))


@pytest.mark.django_db
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_round_trips_and_publishes(workspace, path):
    document = json.loads(path.read_text())

    journey = journey_import(workspace=workspace, document=document)
    version = journey_publish(journey=journey)

    assert definition_from_journey(journey) == document
    assert version.definition == document


def test_there_is_at_least_one_example():
    assert EXAMPLES
