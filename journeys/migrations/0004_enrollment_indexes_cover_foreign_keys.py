# Runs keep no index that another one covers (each index is written by every run of a
# bulk entry): the entry rules' index leads with the customer and so serves the customer
# foreign key; the listing index serves the workspace's; the version's needs none; the
# public id is unique by a constraint, without the LIKE index ``unique=True`` adds.
#
# The foreign keys' indexes are dropped by name (Django's names for them, the same on
# PostgreSQL and SQLite): letting AlterField do it would also drop and re-add each
# foreign key constraint, which re-checks every run.

import customers.ids
import django.db.models.deletion
from django.db import migrations, models


def foreign_key_index_dropped(field, index, to, on_delete, **options):
    """Drop the index of ``field`` only; the constraint stays as it is."""
    return migrations.SeparateDatabaseAndState(
        state_operations=[
            migrations.AlterField(
                model_name='enrollment',
                name=field,
                field=models.ForeignKey(db_index=False, on_delete=on_delete, to=to, **options),
            ),
        ],
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX IF EXISTS "{index}"',
                reverse_sql=f'CREATE INDEX "{index}" ON "journeys_enrollment" ("{field}_id")',
            ),
        ],
    )


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0001_workspaces_keys_customers'),
        ('journeys', '0003_claims_by_journey'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='enrollment',
            name='enrollment_entry_rules_idx',
        ),
        migrations.AddIndex(
            model_name='enrollment',
            index=models.Index(fields=['customer', 'journey', 'state'], name='enrollment_entry_rules_idx'),
        ),
        foreign_key_index_dropped(
            'customer', 'journeys_enrollment_customer_id_1bdb59b7', 'customers.customer',
            django.db.models.deletion.CASCADE, related_name='enrollments',
        ),
        foreign_key_index_dropped(
            'version', 'journeys_enrollment_version_id_338c6fb8', 'journeys.journeyversion',
            django.db.models.deletion.PROTECT, related_name='+',
        ),
        foreign_key_index_dropped(
            'workspace', 'journeys_enrollment_workspace_id_af28257e', 'customers.workspace',
            django.db.models.deletion.CASCADE,
        ),
        migrations.AddConstraint(
            model_name='enrollment',
            constraint=models.UniqueConstraint(fields=('public_id',), name='enrollment_public_id_unique'),
        ),
        migrations.AlterField(
            model_name='enrollment',
            name='public_id',
            field=models.CharField(default=customers.ids.PublicId('run'), editable=False, max_length=40),
        ),
    ]
