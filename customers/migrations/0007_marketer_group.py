"""The "Marketer" group: edits journeys, segments and customers; never keys or webhooks.

Model permissions are made by ``post_migrate``, after every migration, so on a fresh
database they do not exist yet when this runs: it makes them first (as ``migrate``
would a moment later). Running it again changes nothing; reversing it takes these
permissions away from the group and deletes the group when nothing else is left in it.

Which workspaces a marketer sees is not a permission: it is their WorkspaceMember rows
(``customers.admin_scoping``). The list is written out here, not imported, so that
this migration keeps meaning what it meant when it was written.
"""

from django.db import migrations

GROUP_NAME = "Marketer"

#: (app label, codename). Nothing on customers.apikey, delivery.webhookendpoint or
#: delivery.webhookdelivery; workspaces are only viewed.
MARKETER_PERMISSIONS = [
    ("journeys", "view_journey"),
    ("journeys", "add_journey"),
    ("journeys", "change_journey"),
    ("journeys", "view_journeyversion"),
    ("journeys", "view_enrollment"),
    ("journeys", "view_steprun"),
    ("segments", "view_segment"),
    ("segments", "add_segment"),
    ("segments", "change_segment"),
    ("segments", "view_segmentmembership"),
    ("segments", "add_segmentmembership"),
    ("segments", "change_segmentmembership"),
    ("customers", "view_customer"),
    ("customers", "add_customer"),
    ("customers", "change_customer"),
    ("customers", "view_workspace"),
    ("delivery", "view_topic"),
    ("delivery", "add_topic"),
    ("delivery", "change_topic"),
    ("delivery", "view_frequencycap"),
    ("delivery", "add_frequencycap"),
    ("delivery", "change_frequencycap"),
    ("delivery", "view_subscription"),
    ("delivery", "change_subscription"),
    ("delivery", "view_suppression"),
    ("delivery", "change_suppression"),
    ("delivery", "view_message"),
]


def _permissions(apps):
    from django.contrib.auth.management import create_permissions

    for label in {label for label, _codename in MARKETER_PERMISSIONS}:
        app_config = apps.get_app_config(label)
        app_config.models_module = True  # create_permissions skips apps without models
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    found = []
    for label, codename in MARKETER_PERMISSIONS:
        found.append(Permission.objects.get(content_type__app_label=label, codename=codename))
    return found


def marketer_group_create(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group, _created = Group.objects.get_or_create(name=GROUP_NAME)
    group.permissions.add(*_permissions(apps))


def marketer_group_delete(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=GROUP_NAME).first()
    if group is None:
        return
    group.permissions.remove(*_permissions(apps))
    if not group.permissions.exists():
        group.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("customers", "0006_workspace_members"),
        # The models whose permissions the group holds must exist first.
        ("delivery", "0002_messaging_controls"),
        ("journeys", "0012_awaited_events_of_exits_and_goals"),
        ("segments", "0002_segment_presence"),
    ]

    operations = [migrations.RunPython(marketer_group_create, marketer_group_delete)]
