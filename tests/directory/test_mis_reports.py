"""The MIS facts live once (domain/mis.py), and they decide which reports a school may
accept: a report the school's MIS cannot send is refused, and Change MIS withdraws the
accepted reports the new MIS cannot send (one audited removal each)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rollsync.access import roles
from rollsync.directory import models as m
from rollsync.directory.services import schools as school_services
from rollsync.directory.services.schools import (
    MisChange,
    ReportNotSendable,
    school_add,
    school_report_set,
)
from rollsync.domain import mis as domain_mis
from rollsync.simulate import mis as simulate_mis
from tests.directory.helpers import Cli

SRC = Path(__file__).resolve().parents[2] / "src" / "rollsync"

CURRENT = {"students", "staff", "contacts", "groups", "attendance"}
FUTURE = {"students_future", "staff_future"}


def test_the_facts_are_the_help_pages() -> None:
    # shared/reference/001_c9b636f218bedbe7.txt, one section per MIS.
    facts = {
        name: (set(i.current_reports), set(i.future_reports), i.force_run, i.headteacher_reports)
        for name, i in domain_mis.MIS_CATALOGUE.items()
    }
    assert facts == {
        "SIMS": (CURRENT, FUTURE, False, False),
        "Arbor": (CURRENT, set(), True, False),
        "ScholarPack": (CURRENT, set(), True, False),
        "Bromcom": (CURRENT - {"groups"}, FUTURE, False, False),
        "Integris": (CURRENT, set(), False, False),
        "Pupil Asset": ({"students", "staff", "contacts"}, set(), False, True),
        "IRIS iSAMS": ({"students", "staff"}, set(), True, False),
        "Standard files": (CURRENT, FUTURE, True, False),
        # rollsync's own: an aggregator that reads the school's MIS, whichever it is
        "Wonde": (CURRENT, {"students_future"}, True, False),
    }


def test_the_facts_are_written_once() -> None:
    assert roles.MIS_CATALOGUE is domain_mis.MIS_CATALOGUE
    assert roles.FORCE_RUN_MIS is domain_mis.FORCE_RUN_MIS
    assert roles.HEADTEACHER_REPORTS_MIS is domain_mis.HEADTEACHER_REPORTS_MIS
    assert {
        name: info.reports
        for name, info in domain_mis.MIS_CATALOGUE.items()
        if name != "Standard files"
    } == simulate_mis.CSV_REPORTS
    # No second table: only domain/mis.py builds MisInfo rows or names "Pupil Asset"'s
    # report set, and no module spells the future reports out beside a MIS name.
    builders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if re.search(r"\bMisInfo\(", p.read_text())
    ]
    assert builders == ["domain/mis.py"]


def test_a_report_the_mis_cannot_send_is_refused(db: Any) -> None:
    school = school_add(urn="100001", la_code="202", estab="2001", name="A", mis="Pupil Asset")
    before = (
        sorted(school.accepted_reports.values_list("report", flat=True)),
        m.AuditEvent.objects.count(),
    )
    with pytest.raises(ReportNotSendable) as refused:
        school_report_set(school=school, report="groups", accepted=True, actor="t")
    assert str(refused.value) == "Groups & Classes cannot be accepted: Pupil Asset cannot send it"
    after = (
        sorted(school.accepted_reports.values_list("report", flat=True)),
        m.AuditEvent.objects.count(),
    )
    assert after == before
    # What it can send is accepted as before.
    assert school_report_set(school=school, report="contacts", accepted=False, actor="t")
    assert school_report_set(school=school, report="contacts", accepted=True, actor="t")


def test_the_command_refuses_it_too(cli: Cli) -> None:
    school_add(urn="100001", la_code="202", estab="2001", name="A", mis="IRIS iSAMS")
    out = cli("school", "reports", "--school", "100001", "--accept", "attendance", expect=2)
    assert "Attendance cannot be accepted: IRIS iSAMS cannot send it" in out.output
    assert not m.ReportAcceptance.objects.filter(report="attendance").exists()


def test_a_new_school_accepts_only_the_default_reports_its_mis_sends(db: Any) -> None:
    iris = school_add(urn="100001", la_code="202", estab="2001", name="A", mis="IRIS iSAMS")
    bromcom = school_add(urn="100002", la_code="202", estab="2002", name="B", mis="Bromcom")
    plain = school_add(urn="100003", la_code="202", estab="2003", name="C")
    accepted = {
        s.urn: sorted(s.accepted_reports.values_list("report", flat=True))
        for s in (iris, bromcom, plain)
    }
    assert accepted == {
        "100001": ["staff", "students"],
        "100002": ["contacts", "staff", "students"],
        "100003": ["contacts", "groups", "staff", "students"],
    }


def test_change_mis_withdraws_the_reports_the_new_mis_cannot_send(db: Any) -> None:
    school = school_add(urn="100001", la_code="202", estab="2001", name="A", mis="SIMS")
    school_report_set(school=school, report="students_future", accepted=True, actor="t")
    school_report_set(school=school, report="attendance", accepted=True, actor="t")

    change = school_services.school_mis_set(school=school, mis="Pupil Asset", actor="ana")

    assert change == MisChange(changed=True, withdrawn=("students_future", "groups", "attendance"))
    assert sorted(school.accepted_reports.values_list("report", flat=True)) == [
        "contacts",
        "staff",
        "students",
    ]
    events = list(
        m.AuditEvent.objects.filter(school=school, actor="ana")
        .order_by("pk")
        .values_list("action", "reason")
    )
    assert events == [
        ("school_mis_changed", "MIS changed from SIMS to Pupil Asset by ana"),
        ("report_removed", "Students (future) report removed: Pupil Asset cannot send it"),
        ("report_removed", "Groups & Classes report removed: Pupil Asset cannot send it"),
        ("report_removed", "Attendance report removed: Pupil Asset cannot send it"),
    ]
    # A change to an MIS that sends everything accepted withdraws nothing.
    assert school_services.school_mis_set(school=school, mis="Arbor", actor="ana") == MisChange(
        changed=True, withdrawn=()
    )
    # No change, nothing written.
    count = m.AuditEvent.objects.count()
    assert school_services.school_mis_set(school=school, mis="Arbor", actor="ana") == MisChange(
        changed=False, withdrawn=()
    )
    assert m.AuditEvent.objects.count() == count


def test_setting_the_mis_through_school_add_keeps_the_rule(db: Any) -> None:
    # GIAS registers a school with no MIS (the four default reports); setting its MIS
    # later (the demo, `school add --mis`) withdraws what that MIS cannot send.
    school = school_add(urn="100001", la_code="202", estab="2001", name="A")
    school_add(urn="100001", la_code="202", estab="2001", name="A", mis="Bromcom", actor="gias")
    assert sorted(school.accepted_reports.values_list("report", flat=True)) == [
        "contacts",
        "staff",
        "students",
    ]
    events = m.AuditEvent.objects.filter(actor="gias").order_by("pk")
    assert list(events.values_list("action", "reason")) == [
        ("school_updated", "School 100001 details changed"),
        ("report_removed", "Groups & Classes report removed: Bromcom cannot send it"),
    ]


@pytest.mark.parametrize("mis", ["Arbor", "ScholarPack"])
def test_attendance_is_greyed_out_unless_the_school_uses_a_service_that_needs_it(
    db: Any, mis: str
) -> None:
    from rollsync.directory.services.schools import school_attendance_service_set

    school = school_add(urn="100001", la_code="202", estab="2001", name="A", mis=mis)
    audit = m.AuditEvent.objects.count()
    with pytest.raises(ReportNotSendable) as refused:
        school_report_set(school=school, report="attendance", accepted=True, actor="t")
    assert "greys it out unless the school uses a service that needs it" in str(refused.value)
    assert m.AuditEvent.objects.count() == audit
    assert not school.accepted_reports.filter(report="attendance").exists()

    assert school_attendance_service_set(school=school, enabled=True, actor="region")
    assert not school_attendance_service_set(school=school, enabled=True, actor="region")
    assert school_report_set(school=school, report="attendance", accepted=True, actor="t")
    # switched off again: the accepted report is withdrawn, and both are audited
    assert school_attendance_service_set(school=school, enabled=False, actor="region")
    assert not school.accepted_reports.filter(report="attendance").exists()
    kinds = list(
        m.AuditEvent.objects.filter(school=school).order_by("pk").values_list("action", flat=True)
    )
    assert kinds[-4:] == [
        "attendance_service_changed",
        "report_accepted",
        "attendance_service_changed",
        "report_removed",
    ]


def test_other_mis_send_attendance_without_the_service(db: Any) -> None:
    for n, mis in enumerate(["SIMS", "Integris", "Bromcom", "Wonde"]):
        school = school_add(urn=f"10000{n}", la_code="202", estab=f"200{n}", name="A", mis=mis)
        assert school_report_set(school=school, report="attendance", accepted=True, actor="t")
    assert domain_mis.can_send("Arbor", "attendance")
    assert not domain_mis.can_send("Arbor", "attendance", attendance_service=False)
    assert domain_mis.can_send("Arbor", "students", attendance_service=False)


def test_the_command_switches_the_attendance_service(cli: Cli) -> None:
    cli(
        "school",
        "add",
        "--urn",
        "100001",
        "--la",
        "202",
        "--estab",
        "2001",
        "--name",
        "A",
        "--mis",
        "Arbor",
    )
    out = cli("school", "attendance-service", "--school", "100001", "--on").output
    assert out.strip().endswith("attendance service on")
    assert m.School.objects.get(urn="100001").attendance_service
    cli("school", "reports", "--school", "100001", "--accept", "attendance")
    cli("school", "attendance-service", "--school", "100001", "--off")
    school = m.School.objects.get(urn="100001")
    assert not school.attendance_service
    assert not school.accepted_reports.filter(report="attendance").exists()
