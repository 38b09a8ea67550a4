from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0018_run_settled_listed_gone"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="read_in_part",
            field=models.BooleanField(default=False),
        ),
    ]
