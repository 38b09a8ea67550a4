"""RecordFingerprint: the digest of the record a run last found unchanged at an
allocation (planning.fingerprints), so an unchanged record is not planned again."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0010_agent_uploads"),
    ]

    operations = [
        migrations.CreateModel(
            name="RecordFingerprint",
            fields=[
                (
                    "allocation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="directory.allocation",
                    ),
                ),
                ("digest", models.CharField(max_length=32)),
            ],
        ),
    ]
