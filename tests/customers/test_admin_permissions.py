"""Who sees what in the admin: a marketer sees their own workspace, and nothing else."""

import importlib

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.test import Client, RequestFactory

from customers.models import ApiKey, Customer, Workspace, WorkspaceMember
from customers.signals import customers_changed
from delivery.models import WebhookEndpoint
from journeys.models import Journey
from segments.models import Segment, SegmentMembership
from tests.factories import journey_create, segment_create

pytestmark = pytest.mark.django_db

marketer_group_migration = importlib.import_module("customers.migrations.0007_marketer_group")

INTENDED_PERMISSIONS = {
    "journeys.view_journey",
    "journeys.add_journey",
    "journeys.change_journey",
    "journeys.view_journeyversion",
    "journeys.view_enrollment",
    "journeys.view_steprun",
    "segments.view_segment",
    "segments.add_segment",
    "segments.change_segment",
    "segments.view_segmentmembership",
    "segments.add_segmentmembership",
    "segments.change_segmentmembership",
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.view_workspace",
    "delivery.view_topic",
    "delivery.add_topic",
    "delivery.change_topic",
    "delivery.view_frequencycap",
    "delivery.add_frequencycap",
    "delivery.change_frequencycap",
    "delivery.view_subscription",
    "delivery.change_subscription",
    "delivery.view_suppression",
    "delivery.change_suppression",
    "delivery.view_message",
}


def group_permissions() -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in Group.objects.get(name="Marketer").permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


@pytest.fixture
def marketer(workspace) -> User:
    user = User.objects.create_user("mia", "mia@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    WorkspaceMember.objects.create(user=user, workspace=workspace)
    return user


@pytest.fixture
def browser(marketer) -> Client:
    client = Client()
    client.force_login(marketer)
    return client


@pytest.fixture
def theirs(other_workspace):
    """Rows of workspace B, which the marketer of A must never reach."""
    customer = Customer.objects.create(
        workspace=other_workspace, external_id="user_bob", email="bob@globex.example"
    )
    return {
        "customer": customer,
        "journey": journey_create(other_workspace, name="Globex onboarding"),
        "segment": segment_create(other_workspace, [customer], name="Globex VIPs"),
    }


@pytest.fixture
def ours(workspace, ada):
    return {
        "customer": ada,
        "journey": journey_create(workspace, name="Acme welcome"),
        "segment": segment_create(workspace, [ada], name="Acme VIPs"),
    }


def test_the_migration_gives_the_marketer_group_exactly_the_intended_permissions():
    assert group_permissions() == INTENDED_PERMISSIONS


def test_the_marketer_group_migration_is_idempotent_and_reversible():
    marketer_group_migration.marketer_group_create(apps, None)
    assert group_permissions() == INTENDED_PERMISSIONS

    marketer_group_migration.marketer_group_delete(apps, None)
    assert not Group.objects.filter(name="Marketer").exists()

    marketer_group_migration.marketer_group_create(apps, None)
    marketer_group_migration.marketer_group_create(apps, None)
    assert group_permissions() == INTENDED_PERMISSIONS


@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        ("/admin/journeys/journey/", "Acme welcome", "Globex onboarding"),
        ("/admin/segments/segment/", "Acme VIPs", "Globex VIPs"),
        ("/admin/customers/customer/", "user_ada", "user_bob"),
        ("/admin/segments/segmentmembership/", "Acme VIPs", "Globex VIPs"),
        ("/admin/customers/workspace/", "Acme", "Globex"),
    ],
)
def test_a_marketer_lists_only_their_workspace_rows(browser, ours, theirs, url, shown, hidden):
    page = browser.get(url).content.decode()

    assert shown in page
    assert hidden not in page
    assert "Globex" not in page  # not even as a choice of the workspace filter


@pytest.mark.parametrize("kind", ["journey", "segment", "customer"])
def test_a_marketer_opens_their_rows_and_gets_404_for_another_workspace(
    browser, ours, theirs, kind
):
    app = {"journey": "journeys", "segment": "segments", "customer": "customers"}[kind]

    mine = browser.get(f"/admin/{app}/{kind}/{ours[kind].pk}/change/")
    other = browser.get(f"/admin/{app}/{kind}/{theirs[kind].pk}/change/")
    other_history = browser.get(f"/admin/{app}/{kind}/{theirs[kind].pk}/history/")

    assert mine.status_code == 200 and 'name="_save"' in mine.content.decode()
    assert other.status_code == 404
    assert other_history.status_code == 404


def test_a_marketer_edits_a_customer_through_the_customer_service(browser, ada):
    heard = []

    def listener(sender, workspace_id, customer_ids, **kwargs):
        heard.append((workspace_id, customer_ids))

    customers_changed.connect(listener)
    try:
        response = browser.post(
            f"/admin/customers/customer/{ada.pk}/change/",
            {
                "external_id": "user_ada",
                "email": " Ada.Lovelace@Example.COM ",
                "status": "active",
                "timezone": "Europe/London",
                "attributes": '{"first_name": "Ada", "plan": "pro"}',
                "identities-TOTAL_FORMS": "0",
                "identities-INITIAL_FORMS": "0",
                "tenant_profiles-TOTAL_FORMS": "0",
                "tenant_profiles-INITIAL_FORMS": "0",
            },
        )
    finally:
        customers_changed.disconnect(listener)

    assert response.status_code == 302, response.content.decode()[:3000]
    ada.refresh_from_db()
    assert ada.email == "ada.lovelace@example.com"
    assert ada.timezone == "Europe/London"
    assert ada.attributes == {"first_name": "Ada", "plan": "pro"}  # "age" removed
    assert heard == [(ada.workspace_id, [ada.pk])]


def test_a_customer_added_in_the_admin_needs_an_identifier_and_a_real_time_zone(browser, workspace):
    form = {
        "workspace": workspace.pk,
        "status": "active",
        "timezone": "Mars/Olympus",
        "attributes": "{}",
        "identities-TOTAL_FORMS": "0",
        "identities-INITIAL_FORMS": "0",
        "tenant_profiles-TOTAL_FORMS": "0",
        "tenant_profiles-INITIAL_FORMS": "0",
    }

    page = browser.post("/admin/customers/customer/add/", form).content.decode()

    assert "Give an external id, an e-mail or an anonymous id" in page
    assert "unknown time zone" in page
    assert not Customer.objects.exists()


def test_a_marketer_adds_a_customer_to_their_workspace_only(browser, workspace, other_workspace):
    form = {
        "status": "active",
        "timezone": "",
        "attributes": "{}",
        "external_id": "user_new",
        "identities-TOTAL_FORMS": "0",
        "identities-INITIAL_FORMS": "0",
        "tenant_profiles-TOTAL_FORMS": "0",
        "tenant_profiles-INITIAL_FORMS": "0",
    }

    add_page = browser.get("/admin/customers/customer/add/").content.decode()
    url = "/admin/customers/customer/add/"
    refused = browser.post(url, {**form, "workspace": other_workspace.pk})
    accepted = browser.post(url, {**form, "workspace": workspace.pk})

    assert f'<option value="{workspace.pk}" selected>' in add_page  # pre-filled, the only one
    assert "Globex" not in add_page
    assert "Select a valid choice" in refused.content.decode()
    assert accepted.status_code == 302
    assert list(Customer.objects.values_list("workspace_id", "external_id")) == [
        (workspace.pk, "user_new")
    ]


def test_a_marketer_cannot_put_another_workspace_customer_in_a_raw_id_box(browser, ours, theirs):
    response = browser.post(
        "/admin/segments/segmentmembership/add/",
        {"segment": ours["segment"].pk, "customer": theirs["customer"].pk},
    )

    assert "Select a valid choice" in response.content.decode()
    assert not SegmentMembership.objects.filter(
        segment=ours["segment"], customer=theirs["customer"]
    )


def test_a_marketer_edits_a_segment_of_their_workspace(browser, ours):
    segment = ours["segment"]

    response = browser.post(
        f"/admin/segments/segment/{segment.pk}/change/",
        {"name": "Acme best customers", "kind": "static", "list_email": "", "conditions": ""},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    segment.refresh_from_db()
    assert segment.name == "Acme best customers"


def test_a_marketer_chooses_journey_workspaces_among_their_own(
    marketer, workspace, other_workspace
):
    request = RequestFactory().get("/admin/journeys/journey/add/")
    request.user = marketer
    journey_admin = admin.site._registry[Journey]

    form = journey_admin.get_form(request)

    assert list(form.base_fields["workspace"].queryset) == [workspace]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/customers/apikey/",
        "/admin/customers/apikey/add/",
        "/admin/delivery/webhookendpoint/",
        "/admin/delivery/webhookendpoint/add/",
        "/admin/delivery/webhookdelivery/",
        "/admin/customers/workspace/add/",
    ],
)
def test_a_marketer_gets_403_on_keys_and_webhooks(browser, url):
    assert browser.get(url).status_code == 403


def test_a_marketer_gets_403_on_a_key_of_their_own_workspace(browser, api_key, workspace):
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/in", secret="whsec_x"
    )

    assert browser.get(f"/admin/customers/apikey/{api_key.pk}/change/").status_code == 403
    assert browser.get(f"/admin/delivery/webhookendpoint/{endpoint.pk}/change/").status_code == 403
    assert "API keys" not in browser.get("/admin/").content.decode()


def test_a_staff_user_without_group_or_permission_sees_an_empty_admin(ours):
    user = User.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    client = Client()
    client.force_login(user)

    index = client.get("/admin/")

    assert index.status_code == 200
    assert "have permission to view or edit anything" in index.content.decode()
    assert client.get("/admin/customers/customer/").status_code == 403
    assert client.get(f"/admin/journeys/journey/{ours['journey'].pk}/change/").status_code == 403


def test_a_superuser_still_sees_every_workspace(admin_client, ours, theirs):
    page = admin_client.get("/admin/journeys/journey/").content.decode()

    assert "Acme welcome" in page and "Globex onboarding" in page


def test_a_marketer_without_a_workspace_sees_no_rows(ours):
    user = User.objects.create_user("nia", "nia@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    client = Client()
    client.force_login(user)

    page = client.get("/admin/journeys/journey/").content.decode()

    assert "Acme welcome" not in page
    assert not Permission.objects.filter(user=user).exists()  # all of it comes from the group


def test_segments_of_other_workspaces_are_not_in_a_marketers_segment_list(browser, ours, theirs):
    assert Segment.objects.count() == 2
    assert "Globex VIPs" not in browser.get("/admin/segments/segment/?q=VIPs").content.decode()


def test_workspace_members_are_edited_on_the_workspace_page(admin_client, workspace, marketer):
    page = admin_client.get(f"/admin/customers/workspace/{workspace.pk}/change/").content.decode()

    assert "members-TOTAL_FORMS" in page
    assert ApiKey.objects.count() == 0


def test_a_users_workspaces_are_edited_on_the_user_page(admin_client, workspace, marketer):
    page = admin_client.get(f"/admin/auth/user/{marketer.pk}/change/").content.decode()

    assert "workspace_memberships-TOTAL_FORMS" in page
    assert 'name="workspace_memberships-0-workspace"' in page


def test_the_customer_list_filter_offers_only_the_marketers_workspaces(
    browser, marketer, ours, theirs, other_workspace
):
    WorkspaceMember.objects.create(user=marketer, workspace=other_workspace)
    initech = Workspace.objects.create(name="Initech")
    Customer.objects.create(workspace=initech, external_id="user_peter")

    page = browser.get("/admin/customers/customer/").content.decode()

    assert f"?workspace__id__exact={other_workspace.pk}" in page  # a choice among two
    assert "user_ada" in page and "user_bob" in page
    assert "Initech" not in page and "user_peter" not in page


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("journey", "/admin/journeys/journey/{pk}/try/"),
        ("segment", "/admin/segments/segment/{pk}/import/"),
    ],
)
def test_the_editors_own_pages_are_scoped_too(browser, ours, theirs, kind, url):
    assert browser.get(url.format(pk=ours[kind].pk)).status_code == 200
    assert browser.get(url.format(pk=theirs[kind].pk)).status_code == 404


def test_a_segment_added_in_the_admin_is_made_by_the_segment_service(browser, workspace):
    form = {"workspace": workspace.pk, "name": "Pros", "kind": "dynamic", "list_email": ""}
    url = "/admin/segments/segment/add/"

    refused = browser.post(
        url,
        {**form, "conditions": '{"field": "data.plan", "op": "eq", "value": "pro"}'},
        follow=True,
    )
    made = browser.post(
        url, {**form, "conditions": '{"field": "customer.plan", "op": "eq", "value": "pro"}'}
    )

    assert "Not saved: conditions are invalid" in refused.content.decode()
    assert made.status_code == 302, made.content.decode()[:3000]
    assert list(Segment.objects.values_list("workspace_id", "name")) == [(workspace.pk, "Pros")]


def test_a_raw_id_box_never_names_another_workspaces_row(browser, ours, theirs, other_workspace):
    """The label beside a raw-id box names the row its number points at: a typed number
    of another workspace's customer (or the workspace itself) names nothing."""
    bob = theirs["customer"]

    membership = browser.get(f"/admin/segments/segmentmembership/add/?customer={bob.pk}")
    journey = browser.get(f"/admin/journeys/journey/add/?workspace={other_workspace.pk}")
    own = browser.get(f"/admin/segments/segmentmembership/add/?customer={ours['customer'].pk}")

    assert membership.status_code == journey.status_code == 200
    assert "user_bob" not in membership.content.decode()
    assert "bob@globex.example" not in membership.content.decode()
    assert other_workspace.name not in journey.content.decode()
    assert "user_ada" in own.content.decode()  # one's own rows are still named


def test_the_import_pages_need_segment_permissions_and_a_real_id(browser, marketer, ours, client):
    from segments.models import SegmentImport

    record = SegmentImport.objects.create(segment=ours["segment"], total=0)

    assert browser.get("/admin/segments/segment/abc/import/").status_code == 404
    marketer.groups.clear()
    marketer.user_permissions.clear()
    assert browser.get(f"/admin/segments/segment/imports/{record.pk}/").status_code == 403
