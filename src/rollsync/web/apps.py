from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "rollsync.web"
    label = "web"
    verbose_name = "Web app"
