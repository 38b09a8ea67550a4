"""The agent's uploads through a real `rollsync serve` (waitress, a real socket, its own
process) on the suite's database: a connection cut mid-chunk keeps nothing of it, the
upload resumes from where it stood, two copies of the last chunk sent at once store the
extract once, and a real `rollsync worker` then processes it."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.concurrency.conftest import (
    ROLLSYNC,
    call,
    database_is_postgres,
    rollsync_serving,
    scratch_pg,  # noqa: F401  (the fixture)
)
from tests.scratch_pg import MigratedTemplate

pytestmark = pytest.mark.slow

SETUP = """
import dataclasses, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
import django; django.setup()
from rollsync.directory.services.agent import agent_licence_issue
from rollsync.directory.services.schools import school_add
from tests.agentserver.conftest import Agent, snapshot_of
school = school_add(urn="100001", la_code="202", estab="2001", name="SIMS School 1",
    la_name="Testshire", mis="SIMS", accept_reports=("students", "staff"), actor="setup")
licence = agent_licence_issue(school=school, actor="setup")
extract = Agent(school, snapshot_of(school), licence).extract("students")
print(json.dumps({"key": licence.licence_key, "extract": extract.decode("utf-8")}))
"""

DUMP = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
import django; django.setup()
from rollsync.directory import models as m
print(json.dumps({
    "uploads": list(m.Upload.objects.values_list("source", "report", "sha256")),
    "runs": list(m.SyncRun.objects.values_list("status", flat=True)),
    "tasks": list(m.QueuedTask.objects.values_list("status", flat=True)),
    "chunks": m.AgentUploadChunk.objects.count(),
    "pupils": m.Allocation.objects.filter(role="pupil").count(),
}))
"""


@pytest.fixture
def server(
    tmp_path: Path,
    migrated: MigratedTemplate,
    scratch_pg: Callable[[str], str],  # noqa: F811
) -> Iterator[tuple[str, int, Path, dict[str, str]]]:
    """(database URL, rollsync's port, home, the licence key and the extract)."""
    url = scratch_pg("") if database_is_postgres() else migrated.sqlite(tmp_path / "db.sqlite3")
    home = tmp_path / "home"
    home.mkdir()
    call([*ROLLSYNC, "migrate"], url, home)
    setup = json.loads(call([sys.executable, "-c", SETUP], url, home))
    with rollsync_serving(url, home) as port:
        yield url, port, home, setup


def _cut_chunk(port: int, key: str, upload_id: str, chunk: bytes, declared: int) -> bytes:
    """Send a chunk's headers and part of its body, then close the sending side (the
    connection is cut); what the server answered, if anything."""
    head = (
        f"PATCH /agent/v1/uploads/{upload_id} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {declared}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head + chunk)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while data := s.recv(65536):
            answer += data
    return answer


def test_a_cut_chunk_keeps_nothing_and_the_upload_resumes_and_is_stored_once(
    server: Any,
) -> None:
    url, port, home, setup = server
    key, data = setup["key"], setup["extract"].encode("utf-8")
    base = f"http://127.0.0.1:{port}/agent/v1"
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(trust_env=False, timeout=60, headers=auth) as client:
        begun = client.post(
            f"{base}/uploads",
            json={
                "report": "students",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            },
        )
        assert begun.status_code == 201, begun.text
        uid = begun.json()["id"]
        half = len(data) // 2
        # the connection dies after a few bytes of a chunk that declared half the file
        _cut_chunk(port, key, uid, data[:100], half)
        assert client.get(f"{base}/uploads/{uid}").json()["offset"] == 0
        first = client.patch(
            f"{base}/uploads/{uid}", content=data[:half], headers={"Upload-Offset": "0"}
        )
        assert first.json()["offset"] == half
        # after a restart the agent begins again and is told where to go on from
        again = client.post(
            f"{base}/uploads",
            json={
                "report": "students",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            },
        )
        assert (again.status_code, again.json()["id"], again.json()["offset"]) == (200, uid, half)

    # the last chunk sent twice at once (a retry racing its original): stored once
    go = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def last() -> None:
        with httpx.Client(trust_env=False, timeout=60, headers=auth) as c:
            go.wait(timeout=30)
            answers.append(
                c.patch(
                    f"{base}/uploads/{uid}",
                    content=data[half:],
                    headers={"Upload-Offset": str(half)},
                )
            )

    threads = [threading.Thread(target=last) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses in ([200, 200], [200, 409]), [a.text for a in answers]
    stored = [a.json() for a in answers if a.status_code == 200]
    assert {s["state"] for s in stored} == {"stored"} and len({s["upload"] for s in stored}) == 1

    call([*ROLLSYNC, "worker", "--batch"], url, home)
    state = json.loads(call([sys.executable, "-c", DUMP], url, home))
    assert state["uploads"] == [["SIMS agent", "students", hashlib.sha256(data).hexdigest()]]
    assert (state["runs"], state["tasks"], state["chunks"]) == (["applied"], ["succeeded"], 0)
    assert state["pupils"] > 0
