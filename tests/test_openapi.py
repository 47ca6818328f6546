"""The OpenAPI schema documents the public API, and the docs page renders it."""

import pytest

from tests.factories import journey_definition

pytestmark = pytest.mark.django_db

WORKSPACE = "/api/v1/workspaces/{workspace_id}"


def test_schema_lists_every_public_endpoint(anonymous_client):
    response = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, method in [
        ("/journeys/{journey_id}/trigger", "post"),
        ("/customers", "post"),
        ("/customers/{customer_id}", "delete"),
        ("/segments", "post"),
        ("/segments/{segment_id}/members", "post"),
        ("/journeys", "post"),
        ("/journeys/{journey_id}/export", "get"),
        ("/journeys/{journey_id}/stats", "get"),
        ("/journeys/{journey_id}/publish", "post"),
        ("/runs/{run_id}", "get"),
    ]:
        assert method in paths[WORKSPACE + path], path


def test_trigger_operation_documents_its_answers_and_security(anonymous_client):
    schema = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"][WORKSPACE + "/journeys/{journey_id}/trigger"]["post"]
    assert {"200", "202", "400", "401", "404", "413", "429"} <= set(operation["responses"])
    assert operation["responses"]["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
    assert any(p["name"] == "dry_run" for p in operation["parameters"])
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


def test_docs_page_is_served_without_external_assets(anonymous_client):
    response = anonymous_client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html


def test_healthz_answers_ok(anonymous_client):
    response = anonymous_client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


# --- the schema says what the server does (issue 10, section 2) -------------------------


@pytest.fixture
def schema(anonymous_client) -> dict:
    return anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def operation(schema: dict, path: str, method: str) -> dict:
    return schema["paths"][WORKSPACE + path][method]


def component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def body_schema(schema: dict, path: str, method: str) -> dict:
    ref = operation(schema, path, method)["requestBody"]["content"]["application/json"]
    return component(schema, ref["schema"]["$ref"].rsplit("/", 1)[-1])


def test_a_run_is_typed_and_every_answer_of_its_operation_listed(schema):
    run = operation(schema, "/runs/{run_id}", "get")

    ok = run["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Run"}
    assert {"200", "401", "404", "429"} == set(run["responses"])
    properties = component(schema, "Run")["properties"]
    assert {"id", "state", "current_step", "timeline"} <= set(properties)
    assert properties["timeline"]["items"] == {"$ref": "#/components/schemas/RunStep"}


def test_a_run_answers_the_shape_its_schema_gives(client, api_base, workspace, ada, schema):
    from journeys.entry.service import Audience, journey_trigger
    from tests.factories import journey_create

    journey = journey_create(workspace)
    run_id = journey_trigger(
        workspace=workspace,
        journey_id=journey.public_id,
        audience=Audience(external_id="user_ada"),
        payload={},
    ).run_id

    body = client.get(f"{api_base}/runs/{run_id}").json()

    assert set(body) == set(component(schema, "Run")["properties"])


def test_every_operation_lists_the_answers_any_view_can_give(schema):
    for path, operations in schema["paths"].items():
        for method, spec in operations.items():
            answers = set(spec["responses"])
            assert {"401", "429"} <= answers, (method, path)
            if "{workspace_id}" in path:
                assert "404" in answers, (method, path)
            if "requestBody" in spec:
                assert {"400", "413", "415"} <= answers, (method, path)


@pytest.mark.parametrize(
    ("query", "field"),
    [("cursor=abc", "cursor"), ("cursor=%20", "cursor"), ("cursor=%00", "cursor"),
     ("cursor=%01", "cursor"), ("cursor=Y%3D%3D%3D", "cursor"), ("limit=0", "limit"),
     ("limit=501", "limit"), ("limit=x", "limit")],
)  # fmt: skip
def test_a_bad_cursor_or_limit_is_a_documented_400_naming_it(
    client, api_base, schema, query, field
):
    response = client.get(f"{api_base}/journeys?{query}")

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["error"].startswith(f"{field}: ")
    listing = operation(schema, "/journeys", "get")
    assert "400" in listing["responses"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)


def test_an_empty_cursor_is_the_first_page(client, api_base):
    client.post(f"{api_base}/journeys", journey_definition(name="One"), format="json")

    response = client.get(f"{api_base}/journeys?cursor=")

    assert response.status_code == 200
    assert [j["name"] for j in response.json()["results"]] == ["One"]


def test_a_cursor_from_a_page_still_pages(client, api_base):
    for name in ("One", "Two"):
        client.post(f"{api_base}/journeys", journey_definition(name=name), format="json")

    first = client.get(f"{api_base}/journeys?limit=1").json()
    second = client.get(first["next"]).json()

    assert [j["name"] for j in first["results"] + second["results"]] == ["Two", "One"]


@pytest.mark.parametrize("path", ["/journeys", "/customers", "/segments"])
def test_a_body_that_is_not_json_answers_the_error_shape_with_problems(client, api_base, path):
    response = client.post(f"{api_base}{path}", "{", content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("JSON parse error - ")
    assert body["problems"] == [
        {"step": None, "field": None, "message": body["error"].removeprefix("JSON parse error - ")}
    ]


def test_the_error_shape_documents_problems_and_fields(schema):
    error = component(schema, "Error")

    assert error["required"] == ["error"]
    assert error["properties"]["problems"]["items"] == {"$ref": "#/components/schemas/Problem"}
    assert set(component(schema, "Problem")["required"]) == {"step", "field", "message"}
    assert component(schema, "DefinitionError")["required"] == ["error", "problems"]


def test_a_missing_identifier_names_the_fields_as_validation_errors_do(client, api_base):
    response = client.post(f"{api_base}/customers", {"attributes": {}}, format="json")

    assert response.status_code == 400
    message = "at least one of external_id, email or anonymous_id is required"
    assert response.json() == {
        "error": message,
        "fields": {name: [message] for name in ("external_id", "email", "anonymous_id")},
    }


def test_the_schema_states_that_a_trigger_names_someone(schema):
    trigger = operation(schema, "/journeys/{journey_id}/trigger", "post")
    body = body_schema(schema, "/journeys/{journey_id}/trigger", "post")

    assert trigger["requestBody"]["required"] is True
    named = {name for branch in body["anyOf"] for name in branch["required"]}
    assert named == {
        "external_id", "externalId", "email", "customer_id", "customerId",
        "external_ids", "externalIds", "segment_ids", "segmentIds",
    }  # fmt: skip
    assert body["properties"]["segmentIds"]["maxItems"] == 10
    assert body["properties"]["external_ids"]["maxItems"] == 1000


def test_the_schema_states_that_dynamic_segments_need_conditions(schema):
    body = body_schema(schema, "/segments", "post")

    dynamic = next(b for b in body["oneOf"] if b["properties"]["kind"]["enum"] == ["dynamic"])
    assert dynamic["required"] == ["conditions"]
    static = next(b for b in body["oneOf"] if b["properties"]["kind"]["enum"] == ["static"])
    assert static["properties"]["conditions"]["enum"] == [None]
    assert "oneOf" in component(schema, "SegmentCondition")


def test_the_schema_states_the_webhook_url_rule_the_server_applies(schema):
    import re

    from delivery.state_webhooks.endpoints import URL_PATTERN

    url = body_schema(schema, "/webhooks", "post")["properties"]["url"]

    assert url["pattern"] == URL_PATTERN
    for good in ["https://hooks.example.com/in?x=1", "http://127.0.0.1:8000/h", " http://a.b "]:
        assert re.fullmatch(URL_PATTERN, good), good
    for bad in ["ftp://a.b", "not a url", "http://a.b:65536", "http://a b.c", "http://[::1]/"]:
        assert not re.fullmatch(URL_PATTERN, bad), bad


def test_the_schema_lists_the_time_zones_the_server_accepts(schema, client, api_base):
    from customers.validators import timezone_names

    zones = component(schema, "TimezoneEnum")["enum"]

    assert set(zones) == set(timezone_names())
    assert "Europe/Paris" in zones
    assert "localtime" not in zones
    refused = client.post(
        f"{api_base}/customers", {"external_id": "t", "timezone": "Mars/Olympus"}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("timezone: unknown time zone 'Mars/Olympus'")


def test_the_schema_refuses_unknown_definition_keys_as_the_server_does(schema, client, api_base):
    definition = component(schema, "JourneyDefinition")
    steps = component(schema, "JourneyStep")["oneOf"]

    assert definition["additionalProperties"] is False
    assert all(step["additionalProperties"] is False for step in steps)
    response = client.post(
        f"{api_base}/journeys", {**journey_definition(), "colour": "blue"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["problems"][0]["message"] == "unknown field 'colour'"


def test_the_schema_of_a_step_covers_every_step_type(schema):
    from journeys.authoring.definition import STEP_TYPES

    steps = component(schema, "JourneyStep")["oneOf"]

    assert {step["properties"]["type"]["enum"][0] for step in steps} == set(STEP_TYPES)


def test_a_string_that_may_not_be_blank_says_so_with_a_pattern(schema):
    name = body_schema(schema, "/segments", "post")["properties"]["name"]

    assert name["pattern"].startswith("[^")
