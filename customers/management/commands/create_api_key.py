"""``manage.py create_api_key WORKSPACE_ID``: a new key, printed once as the last word.

The key is stored hashed; this output is the only place its secret ever appears, so
scripts can capture it with ``| awk '{print $NF}'``.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from customers.models import ApiKey, Workspace


class Command(BaseCommand):
    help = "Create an API key for a workspace and print it once (the last word of the output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workspace_id", help="The workspace's public id (ws_...)")
        parser.add_argument("--name", default="default", help="A label for the key")
        parser.add_argument(
            "--rate-limit",
            type=int,
            default=None,
            help="Requests per minute for this key (default: RATELIMIT_DEFAULT_PER_MINUTE)",
        )

    def handle(
        self,
        *args: Any,
        workspace_id: str,
        name: str,
        rate_limit: int | None,
        **options: Any,
    ) -> None:
        workspace = Workspace.objects.filter(public_id=workspace_id).first()
        if workspace is None:
            raise CommandError(
                f"workspace {workspace_id!r} not found; create one with create_workspace NAME"
            )
        if rate_limit is not None and rate_limit < 1:
            raise CommandError("--rate-limit must be a positive number of requests per minute")
        with transaction.atomic():
            api_key, raw_key = ApiKey.objects.create_key(workspace=workspace, name=name)
            if rate_limit is not None:
                api_key.rate_limit_per_minute = rate_limit
                api_key.save(update_fields=["rate_limit_per_minute"])
        self.stdout.write(
            f"Created API key {api_key.name!r} ({api_key.prefix}..., "
            f"{api_key.rate_limit_per_minute} requests/minute) for workspace "
            f"{workspace.name} ({workspace.public_id}). "
            f"It is shown only this once: {raw_key}"
        )
