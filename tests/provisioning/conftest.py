"""Fixtures for the provisioning service and command tests: two real schools synced from
simulated exports (in two LAs), and the tenant simulators on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.downsim import GoogleDirectorySimulator, MicrosoftSimulator
from tests.provisioning.helpers import DOMAIN, google_sim, ms_sim
from tests.safety.directory import load_baseline
from tests.safety.exports import school_exports


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_ATTEMPTS", "6")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_WAIT", "0.01")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "0.2")
    monkeypatch.setenv("ROLLSYNC_PROVISION_POLL_WAIT", "0.01")


@pytest.fixture
def school(db: Any) -> m.School:
    """A primary school (LA 871) with pupils, staff, contacts and classes."""
    return load_baseline(school_exports("csv"))


@pytest.fixture
def far_school(db: Any) -> m.School:
    """Another school, in another LA (872), with its own people."""
    return load_baseline(school_exports("ctf"))


@pytest.fixture
def neighbour(school: m.School) -> m.School:
    """Another school of the same LA as `school`, with ten pupils of its own."""
    from datetime import date

    from rollsync.directory.services.schools import school_add
    from rollsync.directory.services.sync import sync_run_execute
    from tests.directory.helpers import pupil
    from tests.tasks.helpers import store

    other = school_add(urn="190001", la_code=school.la.code, estab="7001", name="Brookside")
    kids = [pupil(f"N{i}", f"Nia{i}", "Brook", "2016-03-04") for i in range(10)]
    run = sync_run_execute(upload=store(other, kids), as_of=date(2026, 9, 1))
    assert run.status == m.SyncRun.Status.APPLIED, run.errors
    return other


@pytest.fixture
def gsim() -> Iterator[GoogleDirectorySimulator]:
    with google_sim() as sim:
        yield sim


@pytest.fixture
def msim() -> Iterator[MicrosoftSimulator]:
    with ms_sim() as sim:
        yield sim


def google_settings(sim: GoogleDirectorySimulator) -> dict[str, Any]:
    return {"domain": DOMAIN, "admin_email": f"admin@{DOMAIN}", "api_url": sim.url}


def ms_settings(sim: MicrosoftSimulator) -> dict[str, Any]:
    return {
        "domain": DOMAIN,
        "tenant_id": sim.tenant_id,
        "client_id": sim.client_id,
        "service_principal_id": sim.service_principal_id,
        "job_id": sim.job_id,
        "graph_url": sim.url,
        "login_url": sim.url,
    }


def placed(school: m.School) -> set[str]:
    """The account ids of the school's current pupils and staff."""
    return {
        str(uid)
        for uid in m.Allocation.objects.filter(school=school, role__in=["pupil", "staff"])
        .exclude(status="unallocated")
        .values_list("account__uid", flat=True)
    }
