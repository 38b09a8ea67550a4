"""/healthz and /readyz of a real `rollsync serve` whose database is out of reach, or
never migrated: up, but not ready, and saying why."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(database_url: str) -> str:
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "ROLLSYNC_HOME": str(tmp_path)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "rollsync", "serve", "--no-worker", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(base + "/healthz")[0] == 200:
                    return base
            except OSError:
                time.sleep(0.2)
        raise AssertionError("rollsync serve did not answer /healthz")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_database_out_of_reach_is_up_but_not_ready(serve: Any) -> None:
    base = serve("postgres://postgres@127.0.0.1:1/nowhere")
    assert _get(base + "/healthz") == (200, {"status": "ok"})
    status, body = _get(base + "/readyz")
    assert status == 503
    checks = body["checks"]
    assert checks["database"]["ok"] is False
    assert "OperationalError" in checks["database"]["error"]
    assert (
        checks["migrations"]
        == checks["queue"]
        == {
            "ok": False,
            "error": "the database is not reachable",
        }
    )


@pytest.mark.slow
def test_a_database_never_migrated_is_not_ready(serve: Any, tmp_path: Path) -> None:
    base = serve(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    status, body = _get(base + "/readyz")
    assert status == 503
    checks = body["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["migrations"]["ok"] is False
    assert "migration(s) not applied" in checks["migrations"]["error"]
    assert checks["queue"]["ok"] is False
