"""Importing a CSV of customers into a static segment, with progress and a report.

:func:`segment_import_start` reads the file in the request: its shape is checked at once
(an unreadable file, no column naming customers, too many rows are refused whole), and
each row is kept as an identifier or rejected with its line and reason. The rows are
then added by :func:`segment_import_run` in a task, a chunk at a time through
:func:`segments.services.segment_members_add` (the API's path: the same locking, the
same segment-trigger entries), each chunk's counts committed with it.
"""

import csv
import io
from collections.abc import Iterator
from typing import IO

from django.db import transaction
from django.utils import timezone

from customers.errors import Conflict, InvalidRequest
from customers.models import normalize_email
from customers.selectors import customers_by_identifiers
from segments.models import Segment, SegmentImport
from segments.services import MAX_MEMBERS_PER_REQUEST, segment_members_add

#: The largest file and the most rows one import takes.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 1_000_000
#: Rejected rows reported one by one (the rest are counted).
MAX_REJECTED_LISTED = 100
#: Rows per chunk: one call of the members service.
CHUNK = MAX_MEMBERS_PER_REQUEST

_COLUMNS = ("external_id", "email")


def segment_import_start(*, segment: Segment, file: IO[bytes], filename: str = "") -> SegmentImport:
    """Read ``file`` (a CSV with an ``external_id`` or ``email`` column, or one column of
    either) and record the import; its rows are added by :func:`segment_import_run`,
    started after the commit."""
    if segment.kind != Segment.Kind.STATIC:
        raise Conflict("dynamic segments get their members from their conditions")
    data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InvalidRequest(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"the file is not UTF-8 text (byte {error.start + 1})") from error
    rows, rejected = _rows(text)
    record = SegmentImport.objects.create(
        segment=segment,
        filename=filename[:255],
        rows=rows,
        total=len(rows) + len(rejected),
        processed=len(rejected),  # dealt with already: reported, not added
        rejected=len(rejected),
        rejected_rows=rejected[:MAX_REJECTED_LISTED],
    )
    from segments import tasks  # the task module imports this one

    transaction.on_commit(lambda: tasks.segment_import_run.delay(record.pk), robust=True)
    return record


def _rows(text: str) -> tuple[list[list], list[dict]]:
    """``([line, kind, value], ...)`` to add, and the rejected rows with their reasons."""
    lines = _csv_lines(text)
    header = next(lines, None)
    if header is None:
        raise InvalidRequest("the file is empty")
    names = [cell.strip().lower() for cell in header[1]]
    columns = [(index, name) for index, name in enumerate(names) if name in _COLUMNS]
    if not columns:
        if len(names) != 1:
            raise InvalidRequest(
                "no column named external_id or email in the first line "
                f"(found: {', '.join(repr(name) for name in names[:10])})"
            )
        lines = _chain(header, lines)  # one column without a header: every line is data
        columns = [(0, "")]
    rows: list[list] = []
    rejected: list[dict] = []
    for line, cells in lines:
        if len(rows) + len(rejected) >= MAX_ROWS:
            raise InvalidRequest(f"at most {MAX_ROWS:,} rows per import")
        kind, value, reason = _identifier(cells, columns)
        if reason:
            rejected.append({"line": line, "value": value[:200], "reason": reason})
        else:
            rows.append([line, kind, value])
    return rows, rejected


def _csv_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield reader.line_num, cells
    except csv.Error as error:
        raise InvalidRequest(f"line {reader.line_num}: the CSV cannot be read ({error})") from error


def _chain(first: tuple[int, list[str]], rest: Iterator) -> Iterator[tuple[int, list[str]]]:
    yield first
    yield from rest


def _identifier(cells: list[str], columns: list[tuple[int, str]]) -> tuple[str, str, str]:
    """``(kind, value, reason)``: the first identifier the row gives; a reason if none."""
    for index, name in columns:
        value = cells[index].strip() if index < len(cells) else ""
        if not value:
            continue
        kind = name or ("email" if "@" in value else "external_id")
        if kind == "email":
            email = normalize_email(value)
            if not email or "@" not in email or len(email) > 320:
                return kind, value, "not an e-mail address"
            return kind, email, ""
        if len(value) > 255:
            return kind, value, "an external id is at most 255 characters"
        return kind, value, ""
    return "", ",".join(cells), "no external_id or email on this line"


def segment_import_run(import_id: int) -> SegmentImport | None:
    """Add the import's rows from where it stands, a chunk at a time, each chunk's counts
    committed with it; answers the import. A second task for the same import (a
    redelivered message) finds each chunk done already and adds nothing twice."""
    with transaction.atomic():
        record = SegmentImport.objects.select_for_update().filter(pk=import_id).first()
        if record is None or record.status in _ENDED:
            return record
        record.status = SegmentImport.Status.RUNNING
        record.save(update_fields=["status"])
    rows, offset = record.rows, record.next_row  # read once: the rows do not change
    while offset < len(rows):
        with transaction.atomic():
            record = (
                SegmentImport.objects.select_for_update().select_related("segment")
                .defer("rows").get(pk=import_id)
            )  # fmt: skip
            if record.next_row == offset:
                chunk = rows[offset : offset + CHUNK]
                _chunk_add(record, chunk)
                record.next_row = offset + len(chunk)
                record.save(update_fields=_COUNTERS)
        offset = record.next_row
    SegmentImport.objects.filter(pk=import_id).exclude(status__in=_ENDED).update(
        status=SegmentImport.Status.DONE, finished_at=timezone.now(), rows=[]
    )
    return SegmentImport.objects.defer("rows").get(pk=import_id)


_ENDED = (SegmentImport.Status.DONE, SegmentImport.Status.FAILED)
_COUNTERS = ["next_row", "processed", "added", "already_members", "rejected", "rejected_rows"]


def _chunk_add(record: SegmentImport, chunk: list[list]) -> None:
    segment = record.segment
    external_ids = [value for _, kind, value in chunk if kind == "external_id"]
    emails = [value for _, kind, value in chunk if kind == "email"]
    known = customers_by_identifiers(
        workspace=segment.workspace, external_ids=external_ids, emails=emails
    ).values_list("external_id", "email")
    found = {("external_id", external_id) for external_id, _ in known} | {
        ("email", email) for _, email in known
    }
    missing = [(line, kind, value) for line, kind, value in chunk if (kind, value) not in found]
    for line, kind, value in missing:
        if len(record.rejected_rows) < MAX_REJECTED_LISTED:
            reason = f"no customer with this {'e-mail' if kind == 'email' else 'external id'}"
            record.rejected_rows.append({"line": line, "value": value, "reason": reason})
    record.rejected += len(missing)
    if len(missing) < len(chunk):
        result = segment_members_add(segment=segment, external_ids=external_ids, emails=emails)
        record.added += result.added
        record.already_members += result.already_members
    record.processed += len(chunk)
