"""The worker's schedule: every minute, queue the pulls of connected schools whose time has
come (`tasks.pull_due_connections`). Created once, here, so two workers starting at the
same moment never make it twice; django-q2 runs it once per period however many workers
run, and each school's pull is queued once because queueing moves its next time on in
the same transaction."""

from django.db import migrations
from django.utils import timezone

NAME = "pull due MIS connections"


def add(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    if not Schedule.objects.filter(name=NAME).exists():
        Schedule.objects.create(
            name=NAME,
            func="rollsync.directory.tasks.pull_due_connections",
            schedule_type="I",  # every `minutes`
            minutes=1,
            repeats=-1,
            next_run=timezone.now(),
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("directory", "0007_mis_connection")]

    operations = [migrations.RunPython(add, remove)]
