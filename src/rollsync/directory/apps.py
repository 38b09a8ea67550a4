from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "rollsync.directory"
    label = "directory"
    verbose_name = "Directory"
