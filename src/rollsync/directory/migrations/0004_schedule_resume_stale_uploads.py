"""The worker's schedule: resume uploads left with no run, every 5 minutes (a long-running
worker picks them up too, not only when it starts). Created once, here, so two workers
starting at the same moment never make it twice."""

from django.db import migrations
from django.utils import timezone

NAME = "resume stale uploads"


def add(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    if not Schedule.objects.filter(name=NAME).exists():
        Schedule.objects.create(
            name=NAME,
            func="rollsync.directory.tasks.resume_stale_uploads",
            schedule_type="I",  # every `minutes`
            minutes=5,
            repeats=-1,
            next_run=timezone.now(),
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0003_queued_task"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add, remove)]
