"""Journeys as JSON in the admin: exported as the document the forms edit, imported back
as a new draft unchanged; bad input answered on the form."""

import json

import pytest

from journeys.authoring.documents import definition_from_journey
from journeys.models import Journey
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


def test_a_journey_exported_imports_back_unchanged(admin_client, workspace):
    journey = journey_create(
        workspace, name="Original",
        steps=[{"key": "hi", "type": "send", "channel": "sms", "body": "Hi", "next": None}],
    )  # fmt: skip

    exported = admin_client.get(f"/admin/journeys/journey/{journey.pk}/export-json/")
    document = json.loads(exported.content)
    document["name"] = "Copy"
    imported = admin_client.post(
        "/admin/journeys/journey/import-json/",
        {"workspace": workspace.pk, "document": json.dumps(document)},
    )

    assert exported["Content-Disposition"].endswith(f'{journey.public_id}.json"')
    assert imported.status_code == 302
    copy = Journey.objects.get(name="Copy")
    assert copy.status == Journey.Status.DRAFT
    assert definition_from_journey(copy) == {**definition_from_journey(journey), "name": "Copy"}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ('{"name": "x", "steps": [', "Enter valid JSON"),
        ('{"name": "x", "steps": [{"key": "a", "type": "sned"}]}', "unknown step type"),
        ('{"name": "Taken", "steps": []}', "already exists"),
    ],
)
def test_a_document_that_cannot_be_imported_is_answered_on_the_form(
    admin_client, workspace, document, problem
):
    journey_create(workspace, name="Taken")

    response = admin_client.post(
        "/admin/journeys/journey/import-json/", {"workspace": workspace.pk, "document": document}
    )

    assert response.status_code == 200
    assert problem in response.content.decode()
    assert Journey.objects.count() == 1
