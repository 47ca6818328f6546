"""``manage.py import_journey FILE --workspace ws_... [--publish]``."""

import copy
import io
import json

import pytest
from django.core.management import CommandError, call_command

from journeys.authoring.documents import definition_from_journey
from journeys.models import Journey, JourneyVersion

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_journey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def definition_file(tmp_path, journey_document):
    path = tmp_path / "journey.json"
    path.write_text(json.dumps(journey_document))
    return path


def test_import_creates_a_draft_and_prints_its_id_last(
    workspace, definition_file, journey_document
):
    out, err = run(str(definition_file), "--workspace", workspace.public_id)

    journey = Journey.objects.get()
    assert out.split()[-1] == journey.public_id
    assert err == ""
    assert journey.workspace == workspace
    assert journey.status == Journey.Status.DRAFT
    assert definition_from_journey(journey) == journey_document


def test_publish_flag_makes_the_journey_live_at_version_1(workspace, definition_file):
    out, _ = run(str(definition_file), "--workspace", workspace.public_id, "--publish")

    journey = Journey.objects.get()
    assert out.split()[-1] == journey.public_id
    assert "version 1" in out
    assert journey.status == Journey.Status.LIVE
    assert journey.live_version.number == 1


def test_warnings_go_to_stderr(workspace, tmp_path, journey_document):
    journey_document["steps"][0]["body"] = "{{ data.coupon }}"
    path = tmp_path / "journey.json"
    path.write_text(json.dumps(journey_document))

    out, err = run(str(path), "--workspace", workspace.public_id)

    assert "step confirm body: data.coupon is not declared" in err
    assert out.split()[-1] == Journey.objects.get().public_id


def test_missing_file_is_a_clear_error(workspace, tmp_path):
    with pytest.raises(CommandError, match=r"cannot read .*missing\.json: No such file"):
        run(str(tmp_path / "missing.json"), "--workspace", workspace.public_id)

    assert not Journey.objects.exists()


def test_file_that_is_not_json_is_a_clear_error(workspace, tmp_path):
    path = tmp_path / "journey.json"
    path.write_text('{"name": "x",\n  steps: []}')

    with pytest.raises(CommandError, match=r"is not valid JSON: .*\(line 2, column 3\)"):
        run(str(path), "--workspace", workspace.public_id)

    assert not Journey.objects.exists()


def test_invalid_definition_lists_its_problems(workspace, tmp_path):
    path = tmp_path / "journey.json"
    path.write_text(json.dumps({"steps": [{"key": "a", "type": "sned"}]}))

    with pytest.raises(CommandError) as raised:
        run(str(path), "--workspace", workspace.public_id)

    lines = str(raised.value).splitlines()
    assert lines[0] == "journey definition is not valid"
    assert "  - name: name is required" in lines
    assert any(line.startswith("  - step a type: unknown step type 'sned'") for line in lines)
    assert not Journey.objects.exists()


def test_publish_problems_fail_the_command_and_leave_nothing_behind(
    workspace, tmp_path, journey_document
):
    document = copy.deepcopy(journey_document)
    document["steps"][0]["next"] = "wiat"
    path = tmp_path / "journey.json"
    path.write_text(json.dumps(document))

    with pytest.raises(CommandError) as raised:
        run(str(path), "--workspace", workspace.public_id, "--publish")

    assert str(raised.value).splitlines()[0] == "journey cannot be published"
    assert "  - step confirm next: next points to unknown step 'wiat'" in str(raised.value)
    assert not Journey.objects.exists()
    assert not JourneyVersion.objects.exists()


def test_unknown_workspace_is_a_clear_error(db, definition_file):
    with pytest.raises(CommandError, match="workspace 'ws_nope' not found"):
        run(str(definition_file), "--workspace", "ws_nope")

    assert not Journey.objects.exists()
