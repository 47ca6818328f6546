"""Topics, frequency caps and subscriptions through the API: shapes, errors, all or nothing."""

import pytest

from delivery.models import FrequencyCap, Subscription, Topic
from tests.factories import journey_create

pytestmark = pytest.mark.django_db


def test_topics_are_created_and_listed(client, api_base):
    created = client.post(
        f"{api_base}/topics", {"key": "news", "name": "Newsletter"}, format="json"
    )
    client.post(
        f"{api_base}/topics",
        {"key": "beta", "name": "Beta", "default_subscribed": False},
        format="json",
    )

    assert created.status_code == 201
    assert created.json()["key"] == "news" and created.json()["default_subscribed"] is True
    listed = client.get(f"{api_base}/topics").json()["results"]
    assert [(topic["key"], topic["default_subscribed"]) for topic in listed] == [
        ("beta", False),
        ("news", True),
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"key": "all", "name": "Everything"}, "reserved"),
        ({"key": "News Letter", "name": "x"}, "topic key"),
        ({"key": "news", "name": ""}, "name"),
        ({"key": "news", "name": "x", "default_subscribed": "yes"}, "true or false"),
        ({"key": 5, "name": "x"}, "string"),
    ],
)
def test_bad_topics_are_refused_with_the_field(client, api_base, body, fragment):
    response = client.post(f"{api_base}/topics", body, format="json")

    assert response.status_code == 400
    assert fragment in str(response.json())
    assert not Topic.objects.exists()


def test_a_topic_key_is_taken_once(client, api_base):
    client.post(f"{api_base}/topics", {"key": "news", "name": "A"}, format="json")

    response = client.post(f"{api_base}/topics", {"key": "news", "name": "B"}, format="json")

    assert response.status_code == 409
    assert Topic.objects.get().name == "A"


def test_frequency_caps_are_created_listed_and_deleted(client, api_base, workspace):
    created = client.post(
        f"{api_base}/frequency-caps",
        {"channel": "email", "limit": 3, "period_seconds": 604800},
        format="json",
    ).json()

    assert created["id"].startswith("cap_") and created["limit"] == 3
    assert client.get(f"{api_base}/frequency-caps").json()["results"] == [created]
    assert client.delete(f"{api_base}/frequency-caps/{created['id']}").status_code == 204
    assert client.delete(f"{api_base}/frequency-caps/{created['id']}").status_code == 404
    assert not FrequencyCap.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "webhook", "limit": 3, "period_seconds": 60},
        {"channel": "email", "limit": 0, "period_seconds": 60},
        {"channel": "email", "limit": "3", "period_seconds": 60},
        {"channel": "email", "limit": 3, "period_seconds": 10**9},
        {"channel": "email", "limit": True, "period_seconds": 60},
        {"channel": "email", "limit": 3},
    ],
)
def test_bad_frequency_caps_are_refused(client, api_base, body):
    response = client.post(f"{api_base}/frequency-caps", body, format="json")

    assert response.status_code == 400, response.json()
    assert not FrequencyCap.objects.exists()


def test_another_workspaces_cap_is_not_found(client, api_base, other_workspace):
    cap = FrequencyCap.objects.create(
        workspace=other_workspace, channel="email", limit=1, period_seconds=60
    )

    assert client.delete(f"{api_base}/frequency-caps/{cap.public_id}").status_code == 404
    assert FrequencyCap.objects.exists()


def test_subscriptions_are_read_and_changed_all_or_nothing(client, api_base, workspace, ada):
    Topic.objects.create(workspace=workspace, key="news", name="News")
    Topic.objects.create(workspace=workspace, key="beta", name="Beta", default_subscribed=False)
    url = f"{api_base}/customers/{ada.public_id}/subscriptions"

    assert client.get(url).json() == {"all": True, "beta": False, "news": True}
    changed = client.patch(url, {"news": False, "beta": True}, format="json")
    assert changed.status_code == 200
    assert changed.json() == {"all": True, "beta": True, "news": False}

    refused = client.patch(url, {"news": True, "nope": False, "beta": "no"}, format="json")

    assert refused.status_code == 400
    assert {problem["field"] for problem in refused.json()["problems"]} == {"nope", "beta"}
    assert client.get(url).json() == {"all": True, "beta": True, "news": False}
    assert client.patch(url, {}, format="json").json() == client.get(url).json()
    assert client.patch(url, {"all": False}, format="json").json()["all"] is False
    assert Subscription.objects.get(topic="").source == "api"


def test_subscriptions_of_another_workspaces_customer_are_not_found(
    client, api_base, other_workspace
):
    from customers.models import Customer

    stranger = Customer.objects.create(workspace=other_workspace, external_id="x")
    url = f"{api_base}/customers/{stranger.public_id}/subscriptions"

    assert client.get(url).status_code == 404
    assert client.patch(url, {"all": False}, format="json").status_code == 404
    assert (
        client.patch(
            f"{api_base}/customers/{stranger.public_id}/subscriptions", [1], format="json"
        ).status_code
        == 404
    )


def test_a_send_naming_an_unknown_topic_cannot_be_published(client, api_base, workspace):
    journey = journey_create(
        workspace,
        status="draft",
        steps=[{"key": "mail", "type": "send", "channel": "email", "subject": "Hi",
                "body": "x", "topic": "news", "next": None}],
    )  # fmt: skip

    refused = client.post(f"{api_base}/journeys/{journey.public_id}/publish")
    Topic.objects.create(workspace=workspace, key="news", name="News")
    published = client.post(f"{api_base}/journeys/{journey.public_id}/publish")

    assert refused.status_code == 400
    assert refused.json()["problems"][0]["step"] == "mail"
    assert "no topic 'news'" in refused.json()["problems"][0]["message"]
    assert published.status_code == 200


def test_the_admin_refuses_the_caps_and_topics_the_api_refuses(admin_client, workspace):
    cap = admin_client.post(
        "/admin/delivery/frequencycap/add/",
        {"workspace": workspace.pk, "channel": "webhook", "limit": 0, "period_seconds": 0},
    )
    topic = admin_client.post(
        "/admin/delivery/topic/add/", {"workspace": workspace.pk, "key": "all", "name": "All"}
    )

    assert cap.status_code == topic.status_code == 200  # the form again, with its errors
    assert set(cap.context["adminform"].form.errors) == {"channel", "limit", "period_seconds"}
    assert "reserved" in str(topic.context["adminform"].form.errors["key"])
    assert not FrequencyCap.objects.exists() and not Topic.objects.exists()
