"""Journey names are unique per workspace: existing duplicates are renamed first (the
oldest keeps its name, the others get " (2)", " (3)", ... in the order they were made);
enrollments are called runs."""

from django.db import migrations, models

NAME_MAX_LENGTH = 200  # Journey.name


def unique_names(journeys):
    """``{pk: new name}`` for the journeys, given as ``(pk, workspace_id, name)`` in the
    order they were made, that share a name with an earlier one of their workspace. A new
    name is taken by no journey of the workspace, and fits the column."""
    taken = {(workspace, name) for _, workspace, name in journeys}
    seen = set()
    renamed = {}
    for pk, workspace, name in journeys:
        if (workspace, name) not in seen:
            seen.add((workspace, name))
            continue
        number = 2
        while True:
            suffix = f" ({number})"
            candidate = name[: NAME_MAX_LENGTH - len(suffix)] + suffix
            if (workspace, candidate) not in taken:
                break
            number += 1
        taken.add((workspace, candidate))
        seen.add((workspace, candidate))
        renamed[pk] = candidate
    return renamed


def rename_duplicates(apps, schema_editor):
    Journey = apps.get_model("journeys", "Journey")
    clashing = (
        Journey.objects.values("workspace_id", "name")
        .annotate(count=models.Count("pk"))
        .filter(count__gt=1)
        .values_list("workspace_id", flat=True)
    )
    journeys = list(
        Journey.objects.filter(workspace_id__in=set(clashing))
        .order_by("created_at", "pk")
        .values_list("pk", "workspace_id", "name")
    )
    for pk, name in unique_names(journeys).items():
        Journey.objects.filter(pk=pk).update(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_workspace_sender_and_timezone"),
        ("journeys", "0012_awaited_events_of_exits_and_goals"),
    ]

    operations = [
        migrations.RunPython(rename_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="journey",
            constraint=models.UniqueConstraint(
                fields=("workspace", "name"), name="journey_name_unique"
            ),
        ),
        migrations.AlterModelOptions(
            name="enrollment",
            options={"verbose_name": "run", "verbose_name_plural": "runs"},
        ),
    ]
