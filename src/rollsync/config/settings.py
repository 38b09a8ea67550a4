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
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "django_q",
    "rollsync.directory",
    "rollsync.access",
    "rollsync.web",
    "rollsync.api",
    "rollsync.downstream",
    "rollsync.webhooks",
    "rollsync.tenants",
]

MIDDLEWARE = [
    "rollsync.ops.middleware.LogContextMiddleware",  # each request's log lines: its school, run
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it reads the authentication result
]
ROOT_URLCONF = "rollsync.config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # lockout after repeated failures
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_COOKIE_SECURE = os.environ.get("ROLLSYNC_SECURE_COOKIES", "") == "1"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
# Lock the username, not the address: a whole school signs in from one NAT address,
# and one mistyped password must not lock out every colleague.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
OTP_TOTP_ISSUER = "rollsync"
# Behind a TLS-terminating proxy (production): trust its X-Forwarded-Proto.
if os.environ.get("ROLLSYNC_BEHIND_TLS_PROXY", "") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("ROLLSYNC_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

_default_sqlite = f"sqlite:///{VAR_DIR / 'rollsync.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", _default_sqlite), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout: a CLI run and the worker may share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 60,  # seconds a writer waits for another (BEGIN IMMEDIATE) to commit
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    # A worker host cut off mid-run (its network gone, not its power) leaves its session
    # open and idle inside its transaction, holding the LA's lock, and the server would wait
    # for it for ever: the server ends a session idle in a transaction this long (no run
    # is idle between two queries for anywhere near it), and the lock goes with it. A
    # session cut off in the middle of a COPY is not idle (it waits for the rows, and
    # neither that timeout nor statement_timeout ends the wait): the server's own
    # keepalives, set for the session, find the host gone (60 s, then 6 probes 10 s apart).
    # The client's keepalives let a worker notice a server it can no longer reach.
    # docs/operations.md "Workers on several hosts".
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _idle = int(os.environ.get("ROLLSYNC_DB_IDLE_IN_TRANSACTION_SECONDS", "300"))
    if _idle > 0:
        _server = " ".join(
            f"-c {name}={value}"
            for name, value in {
                "idle_in_transaction_session_timeout": _idle * 1000,
                "tcp_keepalives_idle": 60,
                "tcp_keepalives_interval": 10,
                "tcp_keepalives_count": 6,
            }.items()
        )
        _options["options"] = (
            f"{_options['options']} {_server}".strip() if "options" in _options else _server
        )
    for _key, _value in {
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }.items():
        _options.setdefault(_key, _value)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "Europe/London"
LANGUAGE_CODE = "en-gb"

# Region-wide username rule: "<local part>.<LA code>"; the local part follows this pattern.
ROLLSYNC_USERNAME_PATTERN = os.environ.get("ROLLSYNC_USERNAME_PATTERN", "{given_initial}{family}")

# Uploads: one limit for every door (rollsync.domain.limits.MAX_UPLOAD_BYTES, 100 MiB).
# The first upload handler counts each file's bytes as they arrive and stops reading the
# request once one passes it; a file above FILE_UPLOAD_MAX_MEMORY_SIZE waits in a
# temporary file rather than in memory, so an accepted upload is in memory once (when
# `upload_store` reads it). A request body that is not a file (JSON, form fields) is
# never allowed more than the upload limit either.
from rollsync.domain.limits import MAX_UPLOAD_BYTES  # noqa: E402

FILE_UPLOAD_HANDLERS = [
    "rollsync.web.upload_limit.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES // 40  # 2.5 MiB, Django's default
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES

# Caches. The OneRoster provider keeps each built collection in "oneroster" (docs/
# downstream.md "Cache"), keyed so that any applied run or audited change rebuilds it:
# per process (locmem) by default; `ROLLSYNC_CACHE_URL=redis://host:6379/1` shares one
# Redis among every web process (Django's RedisCache; `pip install "rollsync[redis]"`).
_CACHE_URL = os.environ.get("ROLLSYNC_CACHE_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "oneroster": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_URL}
        if _CACHE_URL
        else {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "rollsync-oneroster",
            "OPTIONS": {"MAX_ENTRIES": 100},
        }
    ),
}
ROLLSYNC_ONEROSTER_CACHE = "oneroster"
ROLLSYNC_ONEROSTER_CACHE_SECONDS = int(os.environ.get("ROLLSYNC_ONEROSTER_CACHE_SECONDS", "900"))

# An upload with no run after this many minutes had its import cut short: the worker
# (when it starts) and `rollsync uploads resume` process it again or mark it abandoned.
ROLLSYNC_UPLOAD_STALE_MINUTES = float(os.environ.get("ROLLSYNC_UPLOAD_STALE_MINUTES", "15"))

# Background work: django-q2 with its ORM broker on the project's own database (docs/
# decisions/0043-queue-django-q2.md). A task's queue row is leased for `retry` seconds
# when a cluster takes it; one whose cluster died is delivered again once that lease
# ends. A sync may take long: `timeout` (the longest one task may run) stays below the
# lease, or a live task would be delivered twice. One worker process on SQLite (one
# writer at a time anyway); `ROLLSYNC_WORKERS` per host on PostgreSQL.
_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
ROLLSYNC_TASK_TIMEOUT = int(os.environ.get("ROLLSYNC_TASK_TIMEOUT", "3600"))
Q_CLUSTER = {
    "name": "rollsync",
    "orm": "default",
    "workers": int(os.environ.get("ROLLSYNC_WORKERS", "1" if _SQLITE else "2")),
    "queue_limit": 1,  # take one task ahead per cluster, not workers**2: leases start early
    "timeout": ROLLSYNC_TASK_TIMEOUT,
    "retry": int(os.environ.get("ROLLSYNC_TASK_LEASE", str(ROLLSYNC_TASK_TIMEOUT + 600))),
    "max_attempts": 0,  # rollsync.directory.tasks bounds attempts itself (crashes count too)
    "ack_failures": False,
    "catch_up": False,
    "scheduler": False,  # `rollsync worker` runs django-q2's scheduler on its own period
    # django-q2's own record of finished tasks: every one kept, pruned by the daily
    # retention job (ROLLSYNC_QUEUE_RESULT_RETENTION_DAYS). A positive limit made its
    # monitor read and lock up to that many rows after every task (1,000: 7% of a core
    # at two workers, and the database's time besides); rollsync's QueuedTask keeps each
    # task's outcome for ever.
    "save_limit": 0,
    "poll": 0.5,
    "label": "Queue",
}
# How often a worker looks for due schedules, in seconds (django-q2's cluster would
# look every 30 s).
ROLLSYNC_SCHEDULER_SECONDS = float(os.environ.get("ROLLSYNC_SCHEDULER_SECONDS", "10"))
# A task that raised a transient error (a database error, a lost race) is tried again
# after ROLLSYNC_TASK_BACKOFF seconds, doubled each time, at most this many attempts in
# all (an attempt whose worker was killed counts too); then it is failed with its error.
ROLLSYNC_TASK_BACKOFF = float(os.environ.get("ROLLSYNC_TASK_BACKOFF", "30"))
ROLLSYNC_TASK_MAX_ATTEMPTS = int(os.environ.get("ROLLSYNC_TASK_MAX_ATTEMPTS", "5"))
# A school's Groups & Classes, Contacts or Attendance upload taken while an earlier people
# upload of the school is still to be processed goes back to the queue for this many
# seconds (no attempt counted): short, as the worker idles when nothing else is due.
ROLLSYNC_TASK_ORDER_WAIT = float(os.environ.get("ROLLSYNC_TASK_ORDER_WAIT", "2"))
# A pull holds its school's connection while it runs (a school's pulls never overlap);
# a hold older than this many minutes is a pull whose worker died, and may be taken over.
ROLLSYNC_PULL_LEASE_MINUTES = float(os.environ.get("ROLLSYNC_PULL_LEASE_MINUTES", "60"))

# The rollsync agent's source (a folder with its pyproject.toml): AutoUpdate Settings
# offers it to SIMS schools as a package to download and install on their server.
ROLLSYNC_AGENT_SOURCE = Path(
    os.environ.get("ROLLSYNC_AGENT_SOURCE", Path(__file__).resolve().parents[3] / "agent")
)

# Retention: an upload's raw bytes are kept this many days, then purged (its row, SHA-256,
# size and runs are kept for ever): the worker's daily schedule and `rollsync retention run`
# (docs/operations.md).
ROLLSYNC_UPLOAD_RETENTION_DAYS = int(os.environ.get("ROLLSYNC_UPLOAD_RETENTION_DAYS", "90"))
# Finished webhook deliveries (delivered, failed for good, endpoint removed) and their
# attempts are deleted this many days on, by the same daily job; pending ones never.
ROLLSYNC_WEBHOOK_RETENTION_DAYS = int(os.environ.get("ROLLSYNC_WEBHOOK_RETENTION_DAYS", "30"))
# django-q2's record of a finished task (its arguments, result and times: a debugging
# aid; each task's outcome is rollsync's QueuedTask, kept for ever) goes this many days on.
ROLLSYNC_QUEUE_RESULT_RETENTION_DAYS = int(
    os.environ.get("ROLLSYNC_QUEUE_RESULT_RETENTION_DAYS", "14")
)

# /metrics (rollsync.ops): with a token set, a scrape must send it as a Bearer token;
# without, only a direct loopback request (no proxy in between) may read it.
ROLLSYNC_METRICS_TOKEN = os.environ.get("ROLLSYNC_METRICS_TOKEN", "")

# Logs: one JSON object a line on stderr, with the school, run, upload and task ids in hand
# (rollsync.ops.logging); ROLLSYNC_LOG_FORMAT=text for a person at a terminal.
ROLLSYNC_LOG_LEVEL = os.environ.get("ROLLSYNC_LOG_LEVEL", "WARNING")  # INFO in deploy/rollsync.env
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": {"()": "rollsync.ops.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "rollsync.ops.logging.Formatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "filters": ["ids"],
            "formatter": "text" if os.environ.get("ROLLSYNC_LOG_FORMAT") == "text" else "json",
        }
    },
    "loggers": {
        "rollsync": {"handlers": ["stderr"], "level": ROLLSYNC_LOG_LEVEL, "propagate": True},
        "django": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}
