"""Bodies PostgreSQL or Python cannot hold answer 400 naming the place, and write nothing."""

import gzip
import json

import pytest
from django.test import override_settings

from customers.models import Customer
from customers.strict_json import MAX_DEPTH
from journeys.models import Enrollment
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


def post(client, url, raw: str | bytes):
    return client.post(url, raw, content_type="application/json")


def test_a_nul_in_a_string_is_a_400_naming_the_field(client, api_base):
    body = json.dumps({"external_id": "n1", "attributes": {"k": "a\u0000b"}})

    response = post(client, f"{api_base}/customers", body)

    assert response.status_code == 400
    assert response.json()["error"] == (
        "JSON parse error - attributes.k: NUL characters (\\u0000) are not allowed"
    )
    assert not Customer.objects.exists()


def test_a_nul_in_a_key_is_a_400(client, api_base):
    response = post(client, f"{api_base}/customers", '{"external_id": "n1", "a\\u0000": 1}')

    assert response.status_code == 400
    assert "not allowed in keys" in response.json()["error"]


def test_a_trigger_payload_with_a_nul_enrolls_nobody(client, api_base, workspace, ada):
    journey = journey_create(workspace)
    body = json.dumps({"external_id": "user_ada", "payload": {"x": "\u0000"}})

    response = post(client, f"{api_base}/journeys/{journey.public_id}/trigger", body)

    assert response.status_code == 400
    assert "payload.x" in response.json()["error"]
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize("number", ["1e999", "-1e999"])
def test_a_number_too_large_for_a_float_is_a_400(client, api_base, workspace, ada, number):
    journey = journey_create(workspace)
    body = '{"external_id": "user_ada", "payload": {"x": ' + number + "}}"

    response = post(client, f"{api_base}/journeys/{journey.public_id}/trigger", body)

    assert response.status_code == 400
    assert response.json()["error"] == f"JSON parse error - number {number} is too large"
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 10_000, 200_000])
def test_deep_nesting_is_a_400(client, api_base, depth):
    body = '{"external_id": "deep", "attributes": {"x": ' + "[" * depth + "]" * depth + "}}"

    response = post(client, f"{api_base}/customers", body)

    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["error"]
    assert not Customer.objects.exists()


def test_nesting_within_the_limit_is_parsed(client, api_base):
    depth = MAX_DEPTH - 2
    body = '{"external_id": "ok", "attributes": {"x": ' + "[" * depth + "]" * depth + "}}"

    response = post(client, f"{api_base}/customers", body)

    assert response.status_code == 201


def test_a_body_that_is_not_utf8_is_a_400(client, api_base):
    response = post(client, f"{api_base}/customers", b'{"external_id": "\xff"}')

    assert response.status_code == 400
    assert response.json()["error"] == "JSON parse error - the body is not UTF-8"


def test_nan_and_infinity_literals_stay_refused(client, api_base):
    response = post(
        client, f"{api_base}/customers", '{"external_id": "n", "attributes": {"x": NaN}}'
    )

    assert response.status_code == 400
    assert response.json()["error"] == "JSON parse error - NaN is not valid JSON"


def test_a_parse_error_lists_its_problem_with_the_place(client, api_base):
    body = json.dumps({"external_id": "n1", "attributes": {"k": "a\u0000b"}})

    response = post(client, f"{api_base}/customers", body)

    assert response.json()["problems"] == [
        {
            "step": None,
            "field": "attributes.k",
            "message": "attributes.k: NUL characters (\\u0000) are not allowed",
        }
    ]


@pytest.mark.parametrize(
    "raw",
    [
        '{"external_id": "s1", "attributes": {"k": "\\ud800"}}',
        '{"external_id": "s1", "attributes": {"\\udfff": 1}}',
    ],
)
def test_a_lone_surrogate_is_a_400_not_a_database_error(client, api_base, raw):
    response = post(client, f"{api_base}/customers", raw)

    assert response.status_code == 400
    assert "lone surrogates" in response.json()["error"]
    assert not Customer.objects.exists()


def test_a_surrogate_pair_is_one_character_and_welcome(client, api_base):
    raw = '{"external_id": "s1", "attributes": {"k": "\\ud83d\\ude00"}}'

    response = post(client, f"{api_base}/customers", raw)

    assert response.status_code == 201
    assert Customer.objects.get().attributes == {"k": "\U0001f600"}


# --- Content-Encoding: every JSON endpoint undoes gzip and refuses what it cannot undo --


def test_a_gzip_body_is_read_on_every_json_endpoint(client, api_base):
    body = gzip.compress(json.dumps({"external_id": "zipped"}).encode())

    response = client.post(
        f"{api_base}/customers", body, content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )  # fmt: skip

    assert response.status_code == 201, response.json()
    assert Customer.objects.filter(external_id="zipped").exists()


def test_plain_json_labelled_gzip_is_a_400_and_writes_nothing(client, api_base):
    response = client.post(
        f"{api_base}/customers", b'{"external_id": "x"}', content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] == "JSON parse error - the body is not valid gzip"
    assert not Customer.objects.exists()


@pytest.mark.parametrize("encoding", ["br", "deflate", "compress"])
def test_an_encoding_it_cannot_undo_is_a_415(client, api_base, workspace, ada, encoding):
    journey = journey_create(workspace)

    response = client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger", b'{"external_id": "user_ada"}',
        content_type="application/json", HTTP_CONTENT_ENCODING=encoding,
    )  # fmt: skip

    assert response.status_code == 415
    assert response.json()["error"] == (
        f"Content-Encoding {encoding!r} is not supported: send gzip, or no encoding"
    )
    assert not Enrollment.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_gzip_body_is_held_to_the_upload_limit_once_decompressed(client, api_base):
    bomb = gzip.compress(json.dumps({"external_id": "x", "pad": "a" * 100_000}).encode())
    assert len(bomb) < 1000

    response = client.post(
        f"{api_base}/customers", bomb, content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )  # fmt: skip

    assert response.status_code == 413
    assert response.json()["limit_bytes"] == 1000
    assert not Customer.objects.exists()
