"""The LAs with a webhook endpoint (of the LA or one of its schools) are listened to
(`LocalAuthority.events_listened`, directory 0014): their writes keep filling the outbox.
A disabled endpoint counts, as it may be enabled again; a removed one does not."""

from django.db import migrations
from django.db.models import Q


def mark_listened(apps, schema_editor):  # type: ignore[no-untyped-def]
    endpoint = apps.get_model("webhooks", "WebhookEndpoint")
    la = apps.get_model("directory", "LocalAuthority")
    live = endpoint.objects.exclude(state="removed")
    la_ids = set(live.exclude(la_id=None).values_list("la_id", flat=True))
    la_ids |= set(live.exclude(school_id=None).values_list("school__la_id", flat=True))
    la.objects.filter(Q(pk__in=la_ids)).update(events_listened=True)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0003_delivery_age_index"),
        ("directory", "0014_la_events_listened"),
    ]

    operations = [migrations.RunPython(mark_listened, migrations.RunPython.noop)]
