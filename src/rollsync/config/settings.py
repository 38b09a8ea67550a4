"""Django settings. One database, named by DATABASE_URL (SQLite under ./var/ when unset)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(os.environ.get("ROLLSYNC_HOME", Path.cwd())).resolve()
VAR_DIR = BASE_DIR / "var"

SECRET_KEY = os.environ.get("ROLLSYNC_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("ROLLSYNC_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("ROLLSYNC_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rollsync.directory",
]

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "rollsync.config.urls"

_default_sqlite = f"sqlite:///{VAR_DIR / 'rollsync.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", _default_sqlite), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout: a CLI run and the worker may share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "Europe/London"
LANGUAGE_CODE = "en-gb"

# Region-wide username rule: "<local part>.<LA code>"; the local part follows this pattern.
ROLLSYNC_USERNAME_PATTERN = os.environ.get("ROLLSYNC_USERNAME_PATTERN", "{given_initial}{family}")
