from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "rollsync.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # The outbox hears every audit event as it is written, in the same transaction.
        from rollsync.directory.services.audit import on_written
        from rollsync.webhooks.services import outbox_record

        on_written(outbox_record)
