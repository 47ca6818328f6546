"""The fixed cast every test can lean on: a workspace, its key, an API client, customers.

Tests run against real PostgreSQL and Redis (``make test`` points DATABASE_URL and
REDIS_URL at the local servers); nothing here fakes either.
"""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from customers.models import ApiKey, Customer, Workspace


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counters():
    """Rate-limit counters live in the shared cache (Redis): start every test at zero."""
    cache.clear()
    yield


@pytest.fixture
def workspace(db) -> Workspace:
    return Workspace.objects.create(name="Acme")


@pytest.fixture
def other_workspace(db) -> Workspace:
    return Workspace.objects.create(name="Globex")


@pytest.fixture
def api_key_pair(workspace) -> tuple[ApiKey, str]:
    return ApiKey.objects.create_key(workspace=workspace, name="tests")


@pytest.fixture
def api_key(api_key_pair) -> ApiKey:
    return api_key_pair[0]


@pytest.fixture
def raw_api_key(api_key_pair) -> str:
    return api_key_pair[1]


@pytest.fixture
def client(raw_api_key) -> APIClient:
    """An API client authenticated as the workspace's key."""
    api_client = APIClient()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_api_key}")
    return api_client


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def ada(workspace) -> Customer:
    return Customer.objects.create(
        workspace=workspace,
        external_id="user_ada",
        email="ada@example.com",
        attributes={"first_name": "Ada", "plan": "vip", "age": 36},
    )


@pytest.fixture
def grace(workspace) -> Customer:
    return Customer.objects.create(
        workspace=workspace,
        external_id="user_grace",
        email="grace@example.com",
        attributes={"first_name": "Grace", "plan": "free", "age": 45},
    )


@pytest.fixture
def api_base(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.public_id}"


@pytest.fixture
def admin_client(db):
    """A logged-in superuser: the marketer's view of the product."""
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_superuser("marketer", "marketer@example.com", "pw")
    browser = Client()
    browser.force_login(user)
    return browser
