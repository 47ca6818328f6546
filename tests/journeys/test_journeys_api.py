"""The journey definition API: list, import, read, replace, export and lifecycle actions."""

import copy

import pytest

from journeys.authoring.services import journey_import
from journeys.models import Journey, JourneyVersion

pytestmark = pytest.mark.django_db

SUMMARY_KEYS = {
    "id",
    "name",
    "status",
    "trigger_type",
    "trigger_event",
    "live_version",
    "created_at",
    "updated_at",
}


def call(client, method: str, url: str, body: object):
    """A request with ``body`` as JSON, except for GET, which has no body."""
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, body, format="json")


def test_import_answers_201_with_the_draft_and_its_warnings(client, api_base, journey_document):
    journey_document["steps"][0]["body"] = "Coupon {{ data.coupon }}"

    response = client.post(f"{api_base}/journeys", journey_document, format="json")

    assert response.status_code == 201
    body = response.json()
    journey = Journey.objects.get()
    assert body["id"] == journey.public_id
    assert body["status"] == "draft"
    assert body["live_version"] is None
    assert body["has_unpublished_changes"] is True
    assert body["definition"] == journey_document
    assert body["warnings"] == [
        {
            "step": "confirm",
            "field": "body",
            "message": "data.coupon is not declared in the trigger schema; a run whose payload "
            "lacks 'coupon' fails at this step",
        }
    ]


def test_import_ignores_nothing_it_does_not_understand(client, api_base, journey_document):
    journey_document["status"] = "live"

    response = client.post(f"{api_base}/journeys", journey_document, format="json")

    assert response.status_code == 400
    assert response.json()["problems"] == [
        {"step": None, "field": "status", "message": "unknown field 'status'"}
    ]
    assert not Journey.objects.exists()


def test_import_of_an_invalid_document_answers_400_with_every_problem(client, api_base):
    document = {"steps": [{"key": "a", "type": "sned"}, {"key": "a", "type": "exit"}]}

    response = client.post(f"{api_base}/journeys", document, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "journey definition is not valid"
    assert {(p["step"], p["field"]) for p in body["problems"]} == {
        (None, "name"),
        ("a", "type"),
        ("a", "key"),
    }
    assert not Journey.objects.exists()


@pytest.mark.parametrize("body", [[1, 2], "journey"])
def test_import_of_a_non_object_answers_400(client, api_base, body):
    response = client.post(f"{api_base}/journeys", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "journey definition is not valid"
    assert not Journey.objects.exists()


def test_import_of_malformed_json_answers_a_json_400(client, api_base):
    response = client.post(f"{api_base}/journeys", "{nope", content_type="application/json")

    assert response.status_code == 400
    assert "error" in response.json()
    assert not Journey.objects.exists()


def test_list_shows_the_workspace_journeys_newest_first_with_public_ids_only(
    client, api_base, workspace, other_workspace, journey_document, live_journey
):
    draft = journey_import(workspace=workspace, document={**journey_document, "name": "Draft"})
    journey_import(workspace=other_workspace, document={**journey_document, "name": "Theirs"})

    response = client.get(f"{api_base}/journeys")

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [j["id"] for j in body["results"]] == [draft.public_id, live_journey.public_id]
    assert all(set(j) == SUMMARY_KEYS for j in body["results"])
    live = body["results"][1]
    assert live["name"] == "Order confirmation"
    assert live["status"] == "live"
    assert live["trigger_type"] == "api"
    assert live["trigger_event"] is None
    assert live["live_version"] == 1
    assert all(j["id"].startswith("jrn_") for j in body["results"])


def test_list_is_cursor_paginated(client, api_base, workspace, journey_document):
    for index in range(3):
        journey_import(workspace=workspace, document={**journey_document, "name": f"J{index}"})

    first = client.get(f"{api_base}/journeys?limit=2").json()
    second = client.get(first["next"]).json()

    assert [j["name"] for j in first["results"]] == ["J2", "J1"]
    assert [j["name"] for j in second["results"]] == ["J0"]
    assert second["next"] is None


def test_get_answers_the_journey_with_its_draft_definition(client, api_base, live_journey):
    response = client.get(f"{api_base}/journeys/{live_journey.public_id}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == SUMMARY_KEYS | {"has_unpublished_changes", "definition", "webhook_url"}
    assert body["webhook_url"] is None  # an API trigger
    assert body["status"] == "live"
    assert body["live_version"] == 1
    assert body["has_unpublished_changes"] is False
    assert body["definition"]["start"] == "confirm"


def test_put_replaces_the_draft_and_flags_unpublished_changes(
    client, api_base, live_journey, journey_document
):
    changed = copy.deepcopy(journey_document)
    changed["steps"][1]["seconds"] = 60

    response = client.put(f"{api_base}/journeys/{live_journey.public_id}", changed, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["definition"] == changed
    assert body["has_unpublished_changes"] is True
    assert body["live_version"] == 1
    assert body["warnings"] == []
    live_journey.refresh_from_db()
    assert live_journey.steps[1]["seconds"] == 60
    assert live_journey.live_version.definition["steps"][1]["seconds"] == 86400


def test_put_of_an_invalid_document_answers_400_and_changes_nothing(
    client, api_base, live_journey, journey_document
):
    response = client.put(
        f"{api_base}/journeys/{live_journey.public_id}", {"name": "x"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "steps"
    live_journey.refresh_from_db()
    assert live_journey.name == "Order confirmation"


def test_put_on_an_archived_journey_answers_409(client, api_base, live_journey, journey_document):
    client.post(f"{api_base}/journeys/{live_journey.public_id}/archive")

    response = client.put(
        f"{api_base}/journeys/{live_journey.public_id}",
        {**journey_document, "name": "Renamed"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json() == {"error": "journey is archived and cannot be edited"}
    live_journey.refresh_from_db()
    assert live_journey.name == "Order confirmation"


def test_export_answers_the_canonical_document_which_reimports_unchanged(
    client, api_base, journey_document
):
    minimal = {"name": "Minimal", "steps": [{"key": "bye", "type": "exit"}]}
    journey_id = client.post(f"{api_base}/journeys", minimal, format="json").json()["id"]

    exported = client.get(f"{api_base}/journeys/{journey_id}/export").json()
    Journey.objects.filter(public_id=journey_id).delete()  # names are unique per workspace
    reimported_id = client.post(f"{api_base}/journeys", exported, format="json").json()["id"]

    assert exported["steps"] == [{"key": "bye", "type": "exit"}]
    assert exported["trigger"] == {"type": "api", "event": None, "schema": [], "conditions": None}
    assert client.get(f"{api_base}/journeys/{reimported_id}/export").json() == exported


def test_export_of_an_imported_canonical_document_is_that_document(
    client, api_base, journey_document
):
    journey_id = client.post(f"{api_base}/journeys", journey_document, format="json").json()["id"]

    response = client.get(f"{api_base}/journeys/{journey_id}/export")

    assert response.status_code == 200
    assert response.json() == journey_document


def test_publish_answers_the_live_version_then_increments_it(
    client, api_base, workspace, journey_document
):
    journey = journey_import(workspace=workspace, document=journey_document)
    url = f"{api_base}/journeys/{journey.public_id}"

    first = client.post(f"{url}/publish")
    changed = copy.deepcopy(journey_document)
    changed["steps"][1]["seconds"] = 60
    client.put(url, changed, format="json")
    second = client.post(f"{url}/publish")

    assert first.status_code == 200
    assert first.json()["status"] == "live"
    assert first.json()["version"]["number"] == 1
    assert first.json()["warnings"] == []
    assert second.json()["version"]["number"] == 2
    assert second.json()["live_version"] == 2
    assert second.json()["has_unpublished_changes"] is False
    versions = dict(JourneyVersion.objects.values_list("number", "definition"))
    assert versions == {1: journey_document, 2: changed}


def test_publish_answers_400_listing_every_problem_by_step_and_changes_nothing(
    client, api_base, workspace, journey_document
):
    journey_document["steps"][0]["next"] = "wiat"
    journey_document["steps"][0]["subject"] = "Hi {{ custmer.name }}"
    journey_document["steps"][3]["body"] = "Thanks {% if %}"
    journey_document["steps"][3]["next"] = None
    journey = journey_import(workspace=workspace, document=journey_document)

    response = client.post(f"{api_base}/journeys/{journey.public_id}/publish")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "journey cannot be published"
    by_step = {(p["step"], p["field"]): p["message"] for p in body["problems"]}
    assert by_step[("confirm", "next")] == "next points to unknown step 'wiat'"
    assert by_step[("confirm", "subject")].startswith("unknown variable 'custmer.name'")
    assert by_step[("sms", "body")].startswith("Liquid does not parse")
    assert by_step[("wait", None)] == "step 'wait' is not reachable from the start step 'confirm'"
    assert body["warnings"] == []
    journey.refresh_from_db()
    assert journey.status == "draft"
    assert not JourneyVersion.objects.exists()


def test_publish_with_a_payload_variable_outside_the_schema_warns_and_succeeds(
    client, api_base, workspace, journey_document
):
    journey_document["steps"][3]["body"] = "Thanks for {{ api.payload.product }}"
    journey = journey_import(workspace=workspace, document=journey_document)

    response = client.post(f"{api_base}/journeys/{journey.public_id}/publish")

    assert response.status_code == 200
    assert response.json()["version"]["number"] == 1
    assert [(w["step"], w["field"]) for w in response.json()["warnings"]] == [("sms", "body")]


def test_pause_and_publish_again_resume_a_journey(client, api_base, live_journey):
    url = f"{api_base}/journeys/{live_journey.public_id}"

    paused = client.post(f"{url}/pause")
    resumed = client.post(f"{url}/publish")

    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert resumed.json()["status"] == "live"
    assert resumed.json()["version"]["number"] == 1


def test_pausing_a_draft_answers_409_and_changes_nothing(
    client, api_base, workspace, journey_document
):
    journey = journey_import(workspace=workspace, document=journey_document)

    response = client.post(f"{api_base}/journeys/{journey.public_id}/pause")

    assert response.status_code == 409
    assert response.json() == {
        "error": "only a live journey can be paused; this journey is draft",
        "status": "draft",
    }
    journey.refresh_from_db()
    assert journey.status == "draft"


def test_archive_answers_the_archived_journey_and_blocks_publishing(client, api_base, live_journey):
    url = f"{api_base}/journeys/{live_journey.public_id}"

    archived = client.post(f"{url}/archive")
    publish = client.post(f"{url}/publish")

    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    assert publish.status_code == 409
    live_journey.refresh_from_db()
    assert live_journey.status == "archived"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("put", ""),
        ("get", "/export"),
        ("post", "/publish"),
        ("post", "/pause"),
        ("post", "/archive"),
    ],
)
def test_another_workspaces_journey_is_not_found(
    client, api_base, other_workspace, journey_document, method, suffix
):
    theirs = journey_import(workspace=other_workspace, document=journey_document)

    response = call(
        client, method, f"{api_base}/journeys/{theirs.public_id}{suffix}", journey_document
    )
    unknown = call(
        client, method, f"{api_base}/journeys/jrn_doesnotexist{suffix}", journey_document
    )

    assert response.status_code == 404
    assert response.json() == {"error": "journey not found"}
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "journey not found"}
    theirs.refresh_from_db()
    assert theirs.status == "draft"
    assert not theirs.versions.exists()


def test_another_workspaces_url_is_not_found(client, other_workspace, journey_document):
    response = client.post(
        f"/api/v1/workspaces/{other_workspace.public_id}/journeys", journey_document, format="json"
    )

    assert response.status_code == 404
    assert not Journey.objects.exists()


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("post", ""), ("get", "/jrn_x"), ("post", "/jrn_x/publish")],
)
def test_requests_without_an_api_key_answer_401(
    anonymous_client, api_base, journey_document, method, suffix
):
    response = call(anonymous_client, method, f"{api_base}/journeys{suffix}", journey_document)

    assert response.status_code == 401
    assert "error" in response.json()
    assert not Journey.objects.exists()


def test_openapi_schema_documents_the_journey_endpoints(client):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    base = "/api/v1/workspaces/{workspace_id}/journeys"
    assert set(paths[base]) >= {"get", "post"}
    assert set(paths[base + "/{journey_id}"]) >= {"get", "put"}
    for action in ("export", "publish", "pause", "archive"):
        assert base + "/{journey_id}/" + action in paths
    operation = paths[base]["post"]
    assert operation["operationId"] == "journeys_import"
    assert "400" in operation["responses"]
    assert "201" in operation["responses"]
    components = schema["components"]["schemas"]
    assert "has_unpublished_changes" in components["JourneyDetail"]["properties"]
    assert "problems" in components["DefinitionError"]["properties"]


TAKEN = {
    "error": "name: a journey named 'Order confirmation' already exists in this workspace; "
    "choose another name",
    "field": "name",
}


def test_importing_a_name_the_workspace_has_answers_409(
    client, api_base, live_journey, journey_document
):
    response = client.post(f"{api_base}/journeys", journey_document, format="json")

    assert response.status_code == 409
    assert response.json() == TAKEN
    assert Journey.objects.filter(workspace=live_journey.workspace).count() == 1


def test_another_workspace_may_use_the_name(live_journey, other_workspace, journey_document):
    other = journey_import(workspace=other_workspace, document=journey_document)

    assert other.name == live_journey.name


def test_renaming_to_a_name_the_workspace_has_answers_409_and_keeping_ones_own_is_fine(
    client, api_base, live_journey, workspace, journey_document
):
    other = journey_import(workspace=workspace, document={**journey_document, "name": "Other"})

    taken = client.put(f"{api_base}/journeys/{other.public_id}", journey_document, format="json")
    kept = client.put(
        f"{api_base}/journeys/{live_journey.public_id}", journey_document, format="json"
    )

    assert taken.status_code == 409 and taken.json() == TAKEN
    assert kept.status_code == 200
    other.refresh_from_db()
    assert other.name == "Other"
