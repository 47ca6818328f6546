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
        parser.add_argument(
            "--trigger-rate-limit",
            type=int,
            default=None,
            help="Trigger requests per minute, a budget of their own "
            "(default: RATELIMIT_TRIGGER_PER_MINUTE)",
        )

    def handle(
        self,
        *args: Any,
        workspace_id: str,
        name: str,
        rate_limit: int | None,
        trigger_rate_limit: int | None,
        **options: Any,
    ) -> None:
        workspace = Workspace.objects.filter(public_id=workspace_id).first()
        if workspace is None:
            raise CommandError(
                f"workspace {workspace_id!r} not found; create one with create_workspace NAME"
            )
        limits = {  # option: (field, value given)
            "--rate-limit": ("rate_limit_per_minute", rate_limit),
            "--trigger-rate-limit": ("trigger_rate_limit_per_minute", trigger_rate_limit),
        }
        given = {field: value for field, value in limits.values() if value is not None}
        for option, (field, _) in limits.items():
            if given.get(field, 1) < 1:
                raise CommandError(f"{option} must be a positive number of requests per minute")
        with transaction.atomic():
            api_key, raw_key = ApiKey.objects.create_key(workspace=workspace, name=name)
            for field, value in given.items():
                setattr(api_key, field, value)
            if given:
                api_key.save(update_fields=list(given))
        self.stdout.write(
            f"Created API key {api_key.name!r} ({api_key.prefix}..., "
            f"{api_key.rate_limit_per_minute} requests/minute, "
            f"{api_key.trigger_rate_limit_per_minute} triggers/minute) for workspace "
            f"{workspace.name} ({workspace.public_id}). "
            f"It is shown only this once: {raw_key}"
        )
