"""Topics, caps and subscriptions saved in the admin go through the API's services."""

import pytest

from delivery.consent import MAX_TOPICS_PER_WORKSPACE
from delivery.models import FrequencyCap, Subscription, Topic

pytestmark = pytest.mark.django_db


def test_a_subscription_saved_in_the_admin_takes_the_customers_workspace(
    admin_client, ada, workspace
):
    Topic.objects.create(workspace=workspace, key="news", name="News")

    response = admin_client.post(
        "/admin/delivery/subscription/add/",
        {"customer": ada.pk, "topic": "news", "subscribed": ""},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    subscription = Subscription.objects.get()
    assert (subscription.workspace_id, subscription.topic, subscription.subscribed) == (
        workspace.pk,
        "news",
        False,
    )
    assert subscription.source == "admin"


def test_a_subscription_to_a_topic_the_workspace_lacks_is_refused(admin_client, ada):
    response = admin_client.post(
        "/admin/delivery/subscription/add/",
        {"customer": ada.pk, "topic": "nonesuch", "subscribed": "on"},
        follow=True,
    )

    assert "Not saved: no topic &#x27;nonesuch&#x27; in this workspace" in response.content.decode()
    assert not Subscription.objects.exists()


def test_a_subscription_change_only_changes_the_choice(admin_client, ada, workspace):
    subscription = Subscription.objects.create(
        workspace=workspace, customer=ada, topic="", subscribed=True, source="api"
    )

    response = admin_client.post(
        f"/admin/delivery/subscription/{subscription.pk}/change/", {"subscribed": ""}
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    subscription.refresh_from_db()
    assert (subscription.subscribed, subscription.source) == (False, "admin")


def test_a_topic_past_the_workspace_limit_is_refused_with_the_services_message(
    admin_client, workspace
):
    Topic.objects.bulk_create(
        Topic(workspace=workspace, key=f"t{i}", name=f"T{i}")
        for i in range(MAX_TOPICS_PER_WORKSPACE)
    )

    response = admin_client.post(
        "/admin/delivery/topic/add/",
        {"workspace": workspace.pk, "key": "one_more", "name": "One more"},
        follow=True,
    )

    assert f"Not saved: a workspace has at most {MAX_TOPICS_PER_WORKSPACE} topics" in (
        response.content.decode()
    )
    assert not Topic.objects.filter(key="one_more").exists()


def test_a_cap_made_in_the_admin_is_made_by_the_service(admin_client, workspace):
    response = admin_client.post(
        "/admin/delivery/frequencycap/add/",
        {"workspace": workspace.pk, "channel": "email", "limit": 3, "period_seconds": 86400},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    cap = FrequencyCap.objects.get()
    assert (cap.limit, cap.period_seconds) == (3, 86400)
    assert cap.public_id.startswith("cap_")
