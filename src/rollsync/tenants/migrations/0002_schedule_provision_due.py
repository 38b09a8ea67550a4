"""The worker's schedule: every minute, queue the provisioning runs of tenant connections
whose time has come (`tenants.tasks.provision_due`). Made once, here, so two workers
starting together never make it twice; each connection's run is queued once a period
because queueing moves its next time on in the same transaction."""

from django.db import migrations
from django.utils import timezone

NAME = "provision due tenants"


def add(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    if not Schedule.objects.filter(name=NAME).exists():
        Schedule.objects.create(
            name=NAME,
            func="rollsync.tenants.tasks.provision_due",
            schedule_type="I",  # every `minutes`
            minutes=1,
            repeats=-1,
            next_run=timezone.now(),
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add, remove)]
