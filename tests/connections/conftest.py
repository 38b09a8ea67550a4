"""A school registered in the directory and its MIS served by a simulator over a real
socket: the iSAMS simulator by default (the simplest auth and paging), with fast retries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add, school_report_set
from rollsync.missim import SimData
from rollsync.missim.isams import IsamsSimulator
from rollsync.simulate import SchoolSnapshot, make_school_truth


@dataclass
class Isams:
    sim: IsamsSimulator
    snap: SchoolSnapshot
    school: m.School

    @property
    def url(self) -> str:
        return f"{self.sim.url}/schools/{self.snap.urn}"

    @property
    def settings(self) -> dict[str, str]:
        return {"url": self.url, "client_id": f"demo-client-{self.snap.urn}"}

    @property
    def secrets(self) -> dict[str, str]:
        return {"client_secret": f"demo-secret-{self.snap.urn}"}


@pytest.fixture(scope="session")
def snapshot() -> SchoolSnapshot:
    return make_school_truth(pupils=30, phase="Primary")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_WAIT", "0.01")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "0.05")


@pytest.fixture
def isams(db: Any, snapshot: SchoolSnapshot) -> Iterator[Isams]:
    school = school_add(
        urn=snapshot.urn,
        la_code=snapshot.la_code,
        estab=snapshot.estab,
        name=snapshot.school_name,
        la_name=snapshot.la_name,
        actor="setup",
    )
    for report in ("students", "staff"):
        school_report_set(school=school, report=report, accepted=True, actor="setup")
    with IsamsSimulator(SimData([snapshot])) as sim:
        yield Isams(sim, snapshot, school)
