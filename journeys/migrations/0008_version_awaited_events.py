from django.db import migrations, models


def awaited_events_fill(apps, schema_editor):
    """Versions published before the field: read from their definitions (the rule of
    ``journeys.models.awaited_events_of``, restated: migrations outlive the code)."""
    JourneyVersion = apps.get_model("journeys", "JourneyVersion")
    for version in JourneyVersion.objects.only("pk", "definition").iterator():
        steps = (version.definition or {}).get("steps") or []
        names = sorted(
            {s["event"] for s in steps if s.get("type") == "wait_for_event" and s.get("event")}
        )
        if names:
            JourneyVersion.objects.filter(pk=version.pk).update(awaited_events=names)


class Migration(migrations.Migration):
    dependencies = [
        ("journeys", "0007_idempotency_own_expiry"),
    ]

    operations = [
        migrations.AddField(
            model_name="journeyversion",
            name="awaited_events",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(awaited_events_fill, migrations.RunPython.noop),
    ]
