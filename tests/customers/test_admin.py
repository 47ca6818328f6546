"""The customers admin: keys shown once and revocable, customers findable."""

import re

import pytest

from customers.models import ApiKey, hash_api_key

pytestmark = pytest.mark.django_db


def test_creating_a_key_shows_its_secret_once_and_stores_only_the_hash(admin_client, workspace):
    response = admin_client.post(
        "/admin/customers/apikey/add/",
        {
            "workspace": workspace.pk,
            "name": "CRM sync",
            "rate_limit_per_minute": 250,
            "trigger_rate_limit_per_minute": 40,
        },
        follow=True,
    )

    page = response.content.decode()
    api_key = ApiKey.objects.get(name="CRM sync")
    (raw_key,) = re.findall(r"sk_[0-9a-f]{48}", page)
    assert api_key.key_hash == hash_api_key(raw_key)
    assert (api_key.rate_limit_per_minute, api_key.trigger_rate_limit_per_minute) == (250, 40)
    later = admin_client.get(f"/admin/customers/apikey/{api_key.pk}/change/").content.decode()
    assert raw_key not in later


def test_revoke_action_revokes_selected_keys(admin_client, api_key):
    admin_client.post(
        "/admin/customers/apikey/",
        {"action": "revoke", "_selected_action": [api_key.pk]},
        follow=True,
    )

    api_key.refresh_from_db()
    assert api_key.is_revoked


def test_customers_are_found_by_external_id(admin_client, ada, grace):
    page = admin_client.get("/admin/customers/customer/?q=user_ada").content.decode()

    assert ada.public_id in page or "ada@example.com" in page
    assert "grace@example.com" not in page


def test_a_view_only_staff_user_cannot_revoke_keys(staff_client, api_key):
    browser = staff_client("view_apikey")

    listing = browser.get("/admin/customers/apikey/").content.decode()
    browser.post("/admin/customers/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]})

    assert 'value="revoke"' not in listing
    api_key.refresh_from_db()
    assert not api_key.is_revoked


def test_the_revoke_button_on_a_key_page_revokes_it_and_the_api_refuses_it(
    admin_client, client, api_key, api_base
):
    page = admin_client.get(f"/admin/customers/apikey/{api_key.pk}/change/").content.decode()
    assert 'name="_revoke"' in page

    response = admin_client.post(
        f"/admin/customers/apikey/{api_key.pk}/change/", {"_revoke": "Revoke this key"}, follow=True
    )

    api_key.refresh_from_db()
    assert api_key.is_revoked
    after = response.content.decode()
    assert "Revoked API key" in after and 'name="_revoke"' not in after
    assert client.get(f"{api_base}/journeys").status_code == 401


def test_a_view_only_staff_user_gets_no_revoke_button_and_cannot_post_it(staff_client, api_key):
    browser = staff_client("view_apikey")

    page = browser.get(f"/admin/customers/apikey/{api_key.pk}/change/").content.decode()
    response = browser.post(f"/admin/customers/apikey/{api_key.pk}/change/", {"_revoke": "1"})

    assert 'name="_revoke"' not in page
    assert response.status_code == 403
    api_key.refresh_from_db()
    assert not api_key.is_revoked


def test_a_key_is_not_revoked_by_typing_a_date(admin_client, api_key):
    admin_client.post(
        f"/admin/customers/apikey/{api_key.pk}/change/",
        {
            "name": "renamed",
            "rate_limit_per_minute": 100,
            "trigger_rate_limit_per_minute": 100,
            "revoked_at_0": "2026-01-01",
            "revoked_at_1": "00:00:00",
        },
    )

    api_key.refresh_from_db()
    assert api_key.name == "renamed"
    assert not api_key.is_revoked
