"""Every answer under /api/ is JSON, Django's own 400, 403 and 413 included, and a NUL in
a path id is an unknown endpoint rather than a database error."""

import logging

import pytest
from django.test import override_settings

from customers.models import Customer
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "customers/cus_%00",
        "journeys/jrn_%00",
        "journeys/jrn_%00/export",
        "runs/run_%00",
        "segments/seg_%00",
        "webhooks/whe_%00",
    ],
)
def test_a_nul_in_a_path_id_is_a_json_404(client, api_base, path):
    response = client.get(f"{api_base}/{path}")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"].startswith("no such endpoint")


def test_a_nul_in_the_trigger_path_is_a_json_404(client, api_base):
    response = client.post(
        f"{api_base}/journeys/jrn_%00/trigger", {"external_id": "x"}, format="json"
    )

    assert response.status_code == 404


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_upload_limit_is_a_json_413_naming_it(client, api_base, workspace):
    journey = journey_create(workspace)
    body = {"external_id": "x", "payload": {"blob": "a" * 2000}}

    response = client.post(f"{api_base}/journeys/{journey.public_id}/trigger", body, format="json")

    assert response.status_code == 413
    assert response.json() == {
        "error": "request body too large: the limit is 1,000 bytes",
        "limit_bytes": 1000,
    }


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_body_is_logged_as_one_warning_without_a_traceback(client, api_base, caplog):
    body = {"external_id": "big", "attributes": {"blob": "a" * 2000}}

    with caplog.at_level(logging.INFO):
        response = client.post(f"{api_base}/customers", body, format="json")

    assert response.status_code == 413
    logged = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records]
    assert logged == [
        ("WARNING", f"POST {api_base}/customers: request body over the 1000-byte limit (413)", None)
    ]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_customer_body_writes_nothing(client, api_base):
    body = {"external_id": "big", "attributes": {"blob": "a" * 2000}}

    response = client.post(f"{api_base}/customers", body, format="json")

    assert response.status_code == 413
    assert not Customer.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_outside_the_api_django_keeps_its_html_pages(admin_client):
    response = admin_client.post("/admin/login/", {"blob": "a" * 2000})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
