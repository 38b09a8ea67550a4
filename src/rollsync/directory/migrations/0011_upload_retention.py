"""Retention of raw uploads: `Upload.purged_at` (the bytes were forgotten then; the row,
checksum and runs stay for ever), and the worker's daily schedule that purges them
(`tasks.purge_expired_uploads`), created once here as the other schedules are."""

from django.db import migrations, models
from django.utils import timezone

NAME = "purge expired uploads"


def add(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    if not Schedule.objects.filter(name=NAME).exists():
        Schedule.objects.create(
            name=NAME,
            func="rollsync.directory.tasks.purge_expired_uploads",
            schedule_type="D",  # daily
            repeats=-1,
            next_run=timezone.now(),
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("directory", "0010_agent_uploads")]

    operations = [
        migrations.AddField(
            model_name="upload",
            name="purged_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(add, remove),
    ]
