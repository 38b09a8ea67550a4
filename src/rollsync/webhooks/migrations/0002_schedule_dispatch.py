"""The worker's schedule: every minute, send the webhook deliveries that are due
(`tasks.dispatch`): retries whose time has come, and anything committed while no
dispatcher was queued (a crash right after the commit). Created once, here."""

from django.db import migrations
from django.utils import timezone

NAME = "send due webhooks"


def add(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    if not Schedule.objects.filter(name=NAME).exists():
        Schedule.objects.create(
            name=NAME,
            func="rollsync.webhooks.tasks.dispatch",
            schedule_type="I",  # every `minutes`
            minutes=1,
            repeats=-1,
            next_run=timezone.now(),
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add, remove)]
