"""The demo's SIMS school: a licence key issued, a fake SIMS installed, and each evening
the real `rollsync-agent` (its own process) extracts, filters and uploads to the web app,
and the worker syncs what arrived; `point_at` moves the agent to the served web app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rollsync import demo_agent
from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.simulate import simulate_region

pytestmark = pytest.mark.slow


def test_the_demo_school_is_fed_by_the_agent_each_evening(
    transactional_db: Any, live_server: Any, tmp_path: Path
) -> None:
    if not demo_agent.available():
        pytest.fail(demo_agent.MISSING)  # ./dev installs it: its absence is a broken set-up
    out = tmp_path / "demo"
    manifest = simulate_region(out, schools=1, seed=3, days=2, scale=0.2, mis_data=True)
    info = manifest.schools[0]
    school = school_add(
        urn=info.urn,
        la_code=info.la_code,
        estab=info.estab,
        name=info.name,
        la_name="Demo LA",
        accept_reports=("students", "staff"),
        actor="setup",
    )
    demo_agent.install(out, school)
    school.refresh_from_db()
    assert school.mis == "SIMS"

    assert demo_agent.evening(out, school, 1, live_server.url) == ""
    runs = m.SyncRun.objects.filter(school=school).order_by("pk")
    assert [(r.upload.source, r.upload.report, r.status) for r in runs] == [
        ("SIMS agent", "students", "applied"),
        ("SIMS agent", "staff", "applied"),
    ]
    assert m.Allocation.objects.filter(school=school, role="pupil", status="active").exists()
    assert demo_agent.evening(out, school, 2, live_server.url) == ""
    assert m.SyncRun.objects.filter(school=school).count() >= 2

    demo_agent.point_at(out, "http://127.0.0.1:8123")
    config = json.loads(
        (out / demo_agent.FOLDER / info.urn / "agent-home" / "config.json").read_text()
    )
    assert config["server"] == "http://127.0.0.1:8123"
