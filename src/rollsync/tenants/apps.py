from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "rollsync.tenants"
    label = "tenants"
    verbose_name = "Google Workspace and Microsoft 365 provisioning"
