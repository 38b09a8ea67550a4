"""`rollsync-agent status` and the local status page."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.agent.conftest import AGENT, LICENCE_KEY, PASSWORD, Agent
from tests.agent.protocol_server import ProtocolServer


def test_status_prints_the_lights_and_the_log(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("run", "--report", "staff").returncode == 0
    done = agent("status")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["configuration", "green"]
    assert lines[1] == "extract        green   extracted staff"
    assert lines[2] == "filter         green   every field extracted is one the school sends"
    assert lines[3] == "upload         green   sent 1 extract to 127.0.0.1"
    assert lines[4].startswith("last run: ") and lines[4].endswith(": uploaded")
    assert lines[5] == "queued extracts: 0"
    assert "last log lines:" in lines
    assert any("run finished: uploaded" in x for x in lines)
    assert "\033[" not in done.stdout  # not a tty: plain words
    data = json.loads(agent("status", "--json").stdout)
    assert data["lights"]["upload"]["light"] == "green"
    assert data["last_run"]["outcome"] == "uploaded"
    assert PASSWORD not in done.stdout and LICENCE_KEY not in done.stdout


def test_status_is_red_before_any_run(agent: Agent) -> None:
    done = agent("status")
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "configuration  red     never run"


@pytest.fixture
def page(agent: Agent, server: ProtocolServer) -> Iterator[str]:
    agent.configure(server.url)
    assert agent("run", "--report", "staff").returncode == 0
    # A log line that would be markup, to show it is escaped.
    with open(agent.home / "agent.log", "a", encoding="utf-8") as fh:
        fh.write(f"<script>alert(1)</script> {LICENCE_KEY} /PASSWORD:{PASSWORD}\n")
    proc = subprocess.Popen(
        [str(AGENT), "status-page", "--port", "0"],
        env=agent.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("status page on http://127.0.0.1:"), first
        yield first.split()[3]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_status_page_on_loopback(page: str) -> None:
    resp = httpx.get(page, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert '<meta http-equiv="refresh"' in resp.text
    assert "sent 1 extract to 127.0.0.1" in resp.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in resp.text and "<script>" not in resp.text
    assert LICENCE_KEY not in resp.text and PASSWORD not in resp.text
    data = httpx.get(page + "status.json", timeout=10).json()
    assert data["lights"]["upload"] == {"light": "green", "message": "sent 1 extract to 127.0.0.1"}
    assert data["log"][-1] == "<script>alert(1)</script> *** /PASSWORD:***"
    assert httpx.get(page + "nothing", timeout=10).status_code == 404


def test_status_page_refuses_another_host(agent: Agent) -> None:
    done = agent("status-page", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert "listens on 127.0.0.1 only, not 0.0.0.0" in done.stderr


def test_python_dash_m_runs_the_agent(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rollsync_agent", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "rollsync-agent 0.1.0"


def test_status_in_colour_on_a_terminal(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("run", "--report", "staff").returncode == 0
    main, child = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(AGENT), "status"], env=agent.env, stdout=child, stderr=subprocess.DEVNULL
        )
        os.close(child)
        assert proc.wait(timeout=30) == 0
        out = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(main)
    text = out.decode()
    assert "upload         \033[32m\u25cf green \033[0m  sent 1 extract to 127.0.0.1" in text
