"""Versions published with exit events or a goal await those events too
(``journeys.models.awaited_events_of``): recompute their ``awaited_events``."""

from django.db import migrations, models


def _awaited(definition):
    # A copy of journeys.models.awaited_events_of as it stands in this migration.
    names = {
        step["event"]
        for step in definition.get("steps") or []
        if step.get("type") == "wait_for_event" and step.get("event")
    }
    names.update(rule["event"] for rule in (definition.get("exit") or {}).get("events") or ())
    goal = definition.get("goal")
    if goal and goal.get("event"):
        names.add(goal["event"])
    return sorted(name for name in names if name)


def recompute(apps, schema_editor):
    JourneyVersion = apps.get_model("journeys", "JourneyVersion")
    with_controls = JourneyVersion.objects.filter(
        models.Q(definition__has_key="exit") | models.Q(definition__has_key="goal")
    )
    for version in with_controls.only("pk", "definition", "awaited_events").iterator():
        awaited = _awaited(version.definition or {})
        if awaited != version.awaited_events:
            JourneyVersion.objects.filter(pk=version.pk).update(awaited_events=awaited)


class Migration(migrations.Migration):
    dependencies = [
        ("journeys", "0011_journey_controls_and_conversions"),
    ]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
