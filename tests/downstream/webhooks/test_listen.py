"""`rollsync webhook listen`, a real process: it prints each event it verified and
refuses what it cannot verify."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from rollsync.directory import models as m
from rollsync.webhooks.services import deliveries_dispatch, webhook_endpoint_add
from tests.downstream.webhooks.conftest import DAY1, apply, pupil


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def listener(school: m.School, port: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    endpoint, secret = webhook_endpoint_add(
        url=f"http://127.0.0.1:{port}/in", actor="t", school=school
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "rollsync", "webhook", "listen", "--port", str(port)],
        env={**os.environ, "ROLLSYNC_WEBHOOK_SECRET": secret},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith(f"listening on http://127.0.0.1:{port}/")
        yield proc, endpoint.pk
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_listen_prints_each_verified_event(
    school: m.School, listener: tuple[subprocess.Popen[str], int], port: int
) -> None:
    proc, _ = listener
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    assert deliveries_dispatch().succeeded == 1
    assert proc.stdout is not None
    line = json.loads(proc.stdout.readline())
    assert line["type"] == "account.created"
    assert line["data"]["account"]["username"] == m.Account.objects.get().username
    forged = httpx.post(
        f"http://127.0.0.1:{port}/in",
        content=b'{"type":"account.created"}',
        headers={"webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
    )
    assert forged.status_code == 401


def test_listen_refuses_a_secret_that_is_not_one() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rollsync", "webhook", "listen", "--secret", "whsec_***"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--secret is not a whsec_ secret" in done.stderr


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("whsec_***", "not base64"),
        ("sk_live_abc", "does not start with whsec_"),
        ("whsec_" + "QUFB", "holds 3 bytes"),
    ],
)
def test_check_secret(secret: str, why: str) -> None:
    from rollsync.webhooks.sending import check_secret, new_secret

    with pytest.raises(ValueError, match=why):
        check_secret(secret)
    check_secret(new_secret())
