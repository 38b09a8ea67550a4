"""When a group and a membership last changed (`modified_at`): a OneRoster class's and
enrollment's `dateLastModified`, so a delta after a sync holds only what that sync
changed. Back-filled, never earlier than the real change: an ended row with when it
ended; a live row with its school's latest applied run (every change to a group or a
membership is made by one of the school's runs, so that time is never before it, and
it is the time the provider showed for every class and enrollment until now: a
consumer's next delta neither misses a change nor gets a spurious one)."""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import F, Max


def backfill(apps, schema_editor):
    Group = apps.get_model("directory", "Group")
    GroupMembership = apps.get_model("directory", "GroupMembership")
    SyncRun = apps.get_model("directory", "SyncRun")
    last_run = dict(
        SyncRun.objects.filter(status="applied", dry_run=False, applied_at__isnull=False)
        .values_list("school_id")
        .annotate(last=Max("applied_at"))
    )
    Group.objects.filter(ended_at__isnull=False).update(modified_at=F("ended_at"))
    GroupMembership.objects.filter(ended_at__isnull=False).update(modified_at=F("ended_at"))
    for school_id in Group.objects.values_list("school_id", flat=True).distinct():
        last = last_run.get(school_id)
        if last is None:
            continue  # no run applied: the migration's time stays
        Group.objects.filter(school_id=school_id, ended_at__isnull=True).update(modified_at=last)
        GroupMembership.objects.filter(group__school_id=school_id, ended_at__isnull=True).update(
            modified_at=last
        )


class Migration(migrations.Migration):
    dependencies = [("directory", "0011_upload_retention")]

    operations = [
        migrations.AddField(
            model_name="group",
            name="modified_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="groupmembership",
            name="modified_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
