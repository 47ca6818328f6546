# Claims read due runs per journey, and a claimed run's wake_at follows its lease. The
# journey-only index goes: every lookup by journey leads a composite index.

import django.db.models.deletion
from django.db import migrations, models


def leased_runs_out_of_due_set(apps, schema_editor):
    """Runs leased under the previous rule keep their wake_at: move it to the lease's
    expiry, so that no claim takes a run a worker still holds."""
    Enrollment = apps.get_model("journeys", "Enrollment")
    Enrollment.objects.filter(
        state="active", lease_expires_at__gt=models.F("wake_at")
    ).update(wake_at=models.F("lease_expires_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0001_workspaces_keys_customers'),
        ('journeys', '0002_run_leases_and_step_messages'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='enrollment',
            name='enrollment_due_idx',
        ),
        migrations.AlterField(
            model_name='enrollment',
            name='journey',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='enrollments', to='journeys.journey'),
        ),
        migrations.AddIndex(
            model_name='enrollment',
            index=models.Index(condition=models.Q(('state', 'active'), ('wake_at__isnull', False)), fields=['journey', 'wake_at'], name='enrollment_due_per_journey_idx'),
        ),
        migrations.RunPython(leased_runs_out_of_due_set, migrations.RunPython.noop),
    ]
