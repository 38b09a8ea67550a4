from django.apps import AppConfig


class DownstreamConfig(AppConfig):
    name = "rollsync.downstream"
    label = "downstream"
    verbose_name = "Downstream services (OneRoster, SCIM clients)"
