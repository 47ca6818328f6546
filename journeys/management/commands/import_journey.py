"""``manage.py import_journey FILE --workspace ws_... [--publish]``.

Imports a journey definition (DESIGN.md section 6) as a draft, and publishes it with
``--publish``. The journey id is the last word printed, so scripts can capture it with
``| awk '{print $NF}'``. A failure changes nothing: with ``--publish`` the import and the
publish are one transaction.
"""

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from customers.errors import DomainError
from customers.models import Workspace
from journeys.authoring.checks import definition_publish_problems
from journeys.authoring.documents import definition_from_journey
from journeys.authoring.services import journey_import, journey_publish
from journeys.models import Journey


def _problem_lines(problems: list[dict[str, Any]]) -> list[str]:
    lines = []
    for problem in problems:
        where = " ".join(
            part
            for part in (
                f"step {problem['step']}" if problem.get("step") else "",
                problem.get("field") or "",
            )
            if part
        )
        lines.append(f"  - {where}: {problem['message']}" if where else f"  - {problem['message']}")
    return lines


class Command(BaseCommand):
    help = "Import a journey definition (JSON) into a workspace; prints the journey id last."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the JSON definition, or - for stdin")
        parser.add_argument("--workspace", required=True, help="The workspace's id (ws_...)")
        parser.add_argument(
            "--publish", action="store_true", help="Publish the imported journey at once"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        document = self._read(options["file"])
        workspace = Workspace.objects.filter(public_id=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"workspace {options['workspace']!r} not found")
        try:
            with transaction.atomic():
                journey = journey_import(workspace=workspace, document=document)
                version = journey_publish(journey=journey) if options["publish"] else None
        except DomainError as error:
            lines = [error.message, *_problem_lines(error.details.get("problems", []))]
            raise CommandError("\n".join(lines)) from error

        warnings = _problem_lines(self._warnings(journey))
        if warnings:
            self.stderr.write("\n".join(["warnings:", *warnings]))
        if version is None:
            self.stdout.write(f"imported journey {journey.name!r} as a draft: {journey.public_id}")
        else:
            self.stdout.write(
                f"imported and published journey {journey.name!r} "
                f"(version {version.number}): {journey.public_id}"
            )

    def _read(self, path: str) -> object:
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text") from error
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{path} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
            ) from error

    def _warnings(self, journey: Journey) -> list[dict[str, Any]]:
        return definition_publish_problems(definition_from_journey(journey))[1]
