from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "rollsync.api"
    label = "api"
    verbose_name = "JSON API"
