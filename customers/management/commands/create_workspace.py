"""``manage.py create_workspace NAME``: a new tenant; its id is the last word printed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.models import Workspace


class Command(BaseCommand):
    help = "Create a workspace and print its id (the last word of the output, for scripts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Human-readable name, e.g. 'Acme'")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        name = name.strip()
        if not name:
            raise CommandError("NAME must not be empty")
        workspace = Workspace.objects.create(name=name)
        self.stdout.write(f"Created workspace {workspace.name}: {workspace.public_id}")
