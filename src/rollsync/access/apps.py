from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "rollsync.access"
    label = "access"
    verbose_name = "Access: roles and tenancy"
