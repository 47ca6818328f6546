"""The OpenAPI schema documents the public API, and the docs page renders it."""

import pytest

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
