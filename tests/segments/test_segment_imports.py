"""CSV imports into static segments: the file's problems at once, rows added by a task in
chunks, progress and a report of rejected lines; through the admin as a marketer uses it."""

import io

import pytest

from customers.errors import Conflict, InvalidRequest
from segments import tasks
from segments.imports import segment_import_run, segment_import_start
from segments.models import Segment, SegmentImport, SegmentMembership
from tests.factories import customers_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def static(workspace):
    return Segment.objects.create(workspace=workspace, name="Imported", kind="static")


@pytest.fixture
def run_tasks_now(monkeypatch):
    """The import task, run in this process as a worker would run it."""
    monkeypatch.setattr(tasks.segment_import_run, "delay", lambda pk: segment_import_run(pk))


def csv_file(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def test_an_import_adds_the_known_customers_and_reports_every_other_line(
    workspace, static, run_tasks_now, django_capture_on_commit_callbacks
):
    customers_create(workspace, 2_500, prefix="u")
    lines = ["external_id,email"]
    lines += [f"u_{i}," for i in range(2_500)]
    lines += ["nobody,", ",not-an-address", ",U2@EXAMPLE.COM", "u_0,", ","]
    with django_capture_on_commit_callbacks(execute=True):
        record = segment_import_start(segment=static, file=csv_file("\n".join(lines)))

    record.refresh_from_db()
    assert record.status == SegmentImport.Status.DONE and record.rows == []
    assert (record.total, record.processed) == (2_504, 2_504)  # the blank line is no line
    assert (record.added, record.already_members, record.rejected) == (2_500, 2, 2)
    assert SegmentMembership.objects.filter(segment=static).count() == 2_500
    assert record.rejected_rows == [
        {"line": 2503, "value": "not-an-address", "reason": "not an e-mail address"},
        {"line": 2502, "value": "nobody", "reason": "no customer with this external id"},
    ]


def test_a_single_column_without_header_is_read_by_its_values(
    workspace, static, run_tasks_now, django_capture_on_commit_callbacks
):
    customers_create(workspace, 3, prefix="c")
    with django_capture_on_commit_callbacks(execute=True):
        record = segment_import_start(segment=static, file=csv_file("c_0\nc1@example.com\nc_9\n"))

    record.refresh_from_db()
    assert (record.added, record.rejected) == (2, 1)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "empty"),
        ("name,plan\nAda,pro\n", "no column named external_id or email"),
        (b"external_id\n\xff\xfe".decode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_whole(static, content, problem):
    data = content.encode("latin-1") if "\xff" in content else content.encode()

    with pytest.raises(InvalidRequest) as raised:
        segment_import_start(segment=static, file=io.BytesIO(data))

    assert problem in raised.value.message
    assert not SegmentImport.objects.exists()


def test_a_dynamic_segment_takes_no_import(workspace):
    dynamic = Segment.objects.create(
        workspace=workspace, name="Pros", kind="dynamic",
        conditions={"field": "customer.plan", "op": "eq", "value": "pro"},
    )  # fmt: skip

    with pytest.raises(Conflict):
        segment_import_start(segment=dynamic, file=csv_file("external_id\nx\n"))


def test_a_task_run_twice_or_resumed_adds_nothing_twice(workspace, static):
    customers_create(workspace, 2_100, prefix="r")
    record = segment_import_start(
        segment=static, file=csv_file("external_id\n" + "\n".join(f"r_{i}" for i in range(2_100)))
    )
    # A worker died after its first chunk: the next run goes on from there.
    SegmentImport.objects.filter(pk=record.pk).update(status="running")
    first = segment_import_run(record.pk)
    again = segment_import_run(record.pk)

    assert first.status == again.status == SegmentImport.Status.DONE
    assert (again.added, again.already_members, again.processed) == (2_100, 0, 2_100)


def test_a_marketer_imports_through_the_admin_and_watches_it_finish(
    admin_client, workspace, static, run_tasks_now, django_capture_on_commit_callbacks
):
    customers_create(workspace, 3, prefix="a")
    page = admin_client.get(f"/admin/segments/segment/{static.pk}/change/")
    assert f"/admin/segments/segment/{static.pk}/import/".encode() in page.content

    upload = io.BytesIO(b"external_id\na_0\na_1\nzz\n")
    upload.name = "list.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/segments/segment/{static.pk}/import/", {"file": upload}
        )

    assert response.status_code == 302
    status = admin_client.get(response["Location"])
    text = status.content.decode()
    assert "Done" in text and "list.csv" in text and "no customer with this external id" in text
    listing = admin_client.get("/admin/segments/segment/").content.decode()
    assert ">2<" in listing  # the members column


def test_the_admin_answers_a_bad_file_on_the_form(admin_client, static):
    upload = io.BytesIO(b"name,plan\nAda,pro\nBob,free\n")
    upload.name = "people.csv"

    response = admin_client.post(f"/admin/segments/segment/{static.pk}/import/", {"file": upload})

    assert response.status_code == 200
    assert "no column named external_id or email" in response.content.decode()
