"""An index for retention: finished deliveries made before the cutoff (ops.services)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_schedule_dispatch"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["status", "created_at"], name="webhook_delivery_age"),
        ),
    ]
