"""Every connector end to end through the services: a school connected to its simulator,
every report its MIS sends accepted, a Force run pulls them all, people before the
reports that name them, and every run applies with no rejected row; the second pull
changes nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from rollsync.connectors import connector_for
from rollsync.directory import models as m
from rollsync.directory.services.connections import connection_connect, connection_pull
from rollsync.directory.services.schools import (
    school_add,
    school_attendance_service_set,
    school_report_set,
)
from rollsync.domain.mis import can_send, mis_info
from rollsync.domain.reports import CATALOGUE
from rollsync.missim import SimData, SimServer, simulator_class
from rollsync.missim.scholarpack import demo_refresh_token
from rollsync.missim.wonde import wonde_school_id
from rollsync.simulate import SchoolSnapshot


def _credentials(vendor: str, sim: SimServer, urn: str) -> tuple[dict[str, str], dict[str, str]]:
    if vendor == "scholarpack":
        return {"url": sim.url}, {"refresh_token": demo_refresh_token(urn)}
    if vendor == "arbor":
        return (
            {"url": f"{sim.url}/schools/{urn}", "username": f"demo-app-{urn}"},
            {"password": f"demo-pass-{urn}"},
        )
    if vendor in ("wonde", "integris"):
        return {"url": f"{sim.url}/v1.0", "wonde_school": wonde_school_id(urn)}, {
            "token": "demo-wonde-token"
        }
    if vendor == "pupil_asset":
        return {
            "url": f"{sim.url}/v1.0",
            "wonde_school": wonde_school_id(urn),
            "school_reference": "PA-4471",
        }, {"token": "demo-wonde-token"}
    return (
        {"url": f"{sim.url}/schools/{urn}", "client_id": f"demo-client-{urn}"},
        {"client_secret": f"demo-secret-{urn}"},
    )


# The MIS reached through an aggregator are served by the aggregator's simulator.
SIMULATOR = {"integris": "wonde", "pupil_asset": "wonde"}


@pytest.fixture(params=["isams", "arbor", "scholarpack", "wonde", "integris", "pupil_asset"])
def connected(
    request: pytest.FixtureRequest,
    db: Any,
    snapshot: SchoolSnapshot,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, m.School, SchoolSnapshot, SimServer]]:
    vendor = request.param
    # A future starter, so Students (future) has someone where the MIS sends it.
    starter = dataclasses.replace(
        snapshot.pupils[-1], future=True, start_date=date.today() + timedelta(days=30)
    )
    snap = dataclasses.replace(snapshot, pupils=[*snapshot.pupils[:-1], starter])
    school = school_add(
        urn=snap.urn, la_code=snap.la_code, estab=snap.estab, name=snap.school_name, actor="t"
    )
    with simulator_class(SIMULATOR.get(vendor, vendor))(SimData([snap])) as sim:
        # ScholarPack's region OAuth client and address come from the environment
        monkeypatch.setenv("ROLLSYNC_SCHOLARPACK_URL", sim.url)
        monkeypatch.setenv("ROLLSYNC_SCHOLARPACK_CLIENT_ID", "demo-client")
        monkeypatch.setenv("ROLLSYNC_SCHOLARPACK_CLIENT_SECRET", "demo-secret")
        settings, secrets = _credentials(vendor, sim, snap.urn)
        connection_connect(school=school, mis=vendor, settings=settings, secrets=secrets, actor="t")
        mis = connector_for(vendor).mis
        # Attendance too, where the MIS sends it only for a school using a service
        school_attendance_service_set(school=school, enabled=True, actor="t")
        for report in CATALOGUE:
            school_report_set(
                school=school, report=report, accepted=can_send(mis, report), actor="t"
            )
        yield vendor, school, snap, sim


def test_a_force_run_pulls_every_report_and_applies_it(connected: Any) -> None:
    vendor, school, snap, _ = connected
    info = mis_info(connector_for(vendor).mis)
    assert info is not None
    # Force run where the MIS has one; the others run on their schedule only
    trigger = "force" if info.force_run else "schedule"
    outcome = connection_pull(school=school, actor="t", trigger=trigger)
    assert outcome.status == "applied", (
        outcome.error,
        [(r.upload.report, r.errors[:2]) for r in outcome.runs],
    )
    sent = [r for r in CATALOGUE if can_send(connector_for(vendor).mis, r)]
    assert [r.upload.report for r in outcome.runs] == sent
    for run in outcome.runs:
        assert run.status == "applied" and run.counts.get("rejected", 0) == 0, (
            run.upload.report,
            run.errors[:3],
        )
    active = m.Allocation.objects.filter(school=school, status="active")
    assert active.filter(role="pupil").count() == len([p for p in snap.pupils if not p.future])
    assert active.filter(role="staff").count() == len(snap.staff)
    if "contacts" in sent:
        # the contacts of the pupils on roll (a future starter's come with them later)
        on_roll = {p.mis_id for p in snap.pupils if not p.future}
        links = [x for x in snap.links if x.pupil_mis_id in on_roll]
        contacts = {x.contact_mis_id for x in links}
        assert active.filter(role="contact").count() == len(contacts)
        assert m.ContactLink.objects.filter(school=school, ended_at=None).count() == len(links)
    if "groups" in sent:
        assert m.Group.objects.filter(school=school, ended_at=None).exists()
    again = connection_pull(school=school, actor="t", trigger=trigger)
    assert again.status == "applied"
    for run in again.runs:
        changed = {k: v for k, v in run.counts.items() if v and k not in ("unchanged", "rejected")}
        assert changed == {}, (run.upload.report, changed)


def test_no_force_run_where_the_mis_has_none(connected: Any) -> None:
    from rollsync.directory.services.connections import (
        MisConnectionError,
        connection_pull_queue,
    )

    vendor, school, _, sim = connected
    info = mis_info(connector_for(vendor).mis)
    assert info is not None
    if info.force_run:
        assert connection_pull_queue(school=school, actor="t")
        return
    before = len(sim.requests)
    for attempt in (
        lambda: connection_pull_queue(school=school, actor="t"),
        lambda: connection_pull(school=school, actor="t"),
    ):
        with pytest.raises(MisConnectionError) as refused:
            attempt()
        assert refused.value.code == "refused"
        assert "weekday evenings only" in str(refused.value)
    assert len(sim.requests) == before
    assert not m.QueuedTask.objects.exists()
    conn = m.MisConnection.objects.get(school=school)
    assert conn.schedule == "30 18 * * 1-5"
