"""What every PostgreSQL session of rollsync asks of the server (settings.py), so that a
worker host cut off mid-run never holds the LA's lock for ever: the idle-in-transaction
timeout for a session cut off between two queries, the server's keepalives for one cut
off inside a COPY (which waits for rows, and which no timeout ends)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.concurrency.conftest import ROOT, database_is_postgres

pytestmark = pytest.mark.skipif(not database_is_postgres(), reason="PostgreSQL's settings")


@pytest.mark.django_db
def test_a_session_ends_a_cut_off_host_idle_in_its_transaction_or_inside_a_copy() -> None:
    with connection.cursor() as cursor:
        shown = {}
        for name in (
            "idle_in_transaction_session_timeout",
            "tcp_keepalives_idle",
            "tcp_keepalives_interval",
            "tcp_keepalives_count",
        ):
            cursor.execute(f"SHOW {name}")
            shown[name] = cursor.fetchone()[0]
    assert shown == {
        "idle_in_transaction_session_timeout": "5min",
        "tcp_keepalives_idle": "60",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "6",
    }


def _options(**env: str) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from rollsync.config import settings as s;"
            " print(json.dumps(s.DATABASES['default'].get('OPTIONS', {})))",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(json.loads(done.stdout))


def test_a_timeout_of_0_leaves_the_servers_own_settings_and_keeps_the_clients_keepalives() -> None:
    left = _options(ROLLSYNC_DB_IDLE_IN_TRANSACTION_SECONDS="0")
    assert "options" not in left
    assert left == {
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    assert _options(ROLLSYNC_DB_IDLE_IN_TRANSACTION_SECONDS="7")["options"] == (
        "-c idle_in_transaction_session_timeout=7000 -c tcp_keepalives_idle=60"
        " -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6"
    )
