"""`rollsync-agent run` as a real process: the fake SIMS behind CommandReporter's name, the
protocol test server on a real socket."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from rollsync.missim.commandreporter import encode_name
from tests.agent.conftest import LICENCE_KEY, PASSWORD, Agent, make_tree, snapshot
from tests.agent.protocol_server import ProtocolServer


def _records(xml: bytes) -> list[dict[str, str]]:
    root = etree.fromstring(xml)
    return [{f.tag: f.text or "" for f in rec} for rec in root.iterchildren("Record")]


def _current_pupils() -> int:
    return sum(1 for p in snapshot().pupils if not p.future)


def test_run_extracts_filters_and_uploads(agent: Agent, server: ProtocolServer) -> None:
    server.state.tree = make_tree(stale_students=True)
    agent.configure(server.url)
    done = agent("run", "--json")
    assert done.returncode == 0, done
    summary = json.loads(done.stdout)
    assert summary["ok"] is True and summary["outcome"] == "uploaded"
    by_report = {r["report"]: r for r in summary["reports"]}
    pupils = _current_pupils()
    assert by_report["students"]["rows"] == pupils > 0
    assert by_report["students"]["dropped"] == {"Primary Email": pupils}
    assert by_report["students"]["state"] == "stored"
    assert by_report["staff"]["dropped"] == {}
    assert [r for r, _ in server.state.stored] == ["students", "staff"]
    students = _records(server.state.stored[0][1])
    assert len(students) == pupils
    tags = set(students[0])
    assert encode_name("Primary Email") not in tags
    assert {"ID", "UPN", encode_name("Legal Surname")} <= tags
    assert all(r["ID"] for r in students)
    lights = agent.status()["lights"]
    assert {k: v["light"] for k, v in lights.items()} == {
        "configuration": "green",
        "extract": "green",
        "filter": "yellow",
        "upload": "green",
    }
    assert "Primary Email" in lights["filter"]["message"]
    assert f"students: dropped {pupils} values of field Primary Email (not uploaded)" in agent.log()
    assert agent.queued() == []
    # The secrets are nowhere: not in the log, the output, nor what the server was told.
    posted = json.dumps(server.state.statuses)
    for text in (agent.log(), done.stdout, done.stderr, posted):
        assert PASSWORD not in text and LICENCE_KEY not in text
    assert "/PASSWORD:***" in agent.log()
    assert server.state.statuses[-1]["lights"]["upload"]["light"] == "green"
    assert server.state.statuses[-1]["queued"] == 0
    assert server.state.headers[0]["User-Agent"].startswith("rollsync-agent/0.1.0 (")
