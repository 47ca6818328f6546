"""create_workspace and create_api_key: what set-up scripts capture from their output."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customers.models import ApiKey, Workspace, hash_api_key


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_create_workspace_prints_its_id_as_the_last_word(db):
    output = _run("create_workspace", "Acme Corp")

    workspace_id = output.split()[-1]
    workspace = Workspace.objects.get()
    assert workspace.public_id == workspace_id
    assert workspace.name == "Acme Corp"
    assert output == f"Created workspace Acme Corp: {workspace_id}"


def test_create_workspace_rejects_a_blank_name(db):
    with pytest.raises(CommandError):
        _run("create_workspace", "   ")

    assert not Workspace.objects.exists()


def test_create_api_key_prints_a_working_key_once_as_the_last_word(workspace, settings):
    output = _run("create_api_key", workspace.public_id)

    raw_key = output.split()[-1]
    api_key = ApiKey.objects.get(workspace=workspace)
    assert raw_key.startswith("sk_")
    assert api_key.key_hash == hash_api_key(raw_key)
    assert api_key.name == "default"
    assert api_key.rate_limit_per_minute == settings.RATELIMIT_DEFAULT_PER_MINUTE
    assert output.count(raw_key) == 1


def test_create_api_key_takes_a_name_and_a_rate_limit(workspace):
    output = _run("create_api_key", workspace.public_id, "--name", "backend", "--rate-limit", "7")

    api_key = ApiKey.objects.get(workspace=workspace)
    assert (api_key.name, api_key.rate_limit_per_minute) == ("backend", 7)
    assert ApiKey.objects.for_raw_key(output.split()[-1]) == api_key


def test_create_api_key_takes_a_trigger_budget_of_its_own(workspace, settings):
    output = _run("create_api_key", workspace.public_id, "--trigger-rate-limit", "500")

    api_key = ApiKey.objects.get(workspace=workspace)
    assert api_key.trigger_rate_limit_per_minute == 500
    assert api_key.rate_limit_per_minute == settings.RATELIMIT_DEFAULT_PER_MINUTE
    assert "500 triggers/minute" in output


def test_created_key_authenticates_against_the_api(workspace, anonymous_client):
    raw_key = _run("create_api_key", workspace.public_id).split()[-1]
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    response = anonymous_client.post(
        f"/api/v1/workspaces/{workspace.public_id}/customers", {"external_id": "u"}, format="json"
    )

    assert response.status_code == 201


def test_create_api_key_for_an_unknown_workspace_is_a_clear_error(workspace):
    with pytest.raises(CommandError, match="workspace 'ws_nope' not found"):
        _run("create_api_key", "ws_nope")

    assert not ApiKey.objects.exists()


def test_create_api_key_rejects_a_non_positive_rate_limit(workspace):
    with pytest.raises(CommandError, match="rate-limit"):
        _run("create_api_key", workspace.public_id, "--rate-limit", "0")

    assert not ApiKey.objects.exists()
