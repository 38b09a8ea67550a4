"""The fake SIMS CommandReporter and CommandReportImporter, run as real processes with the
real switches: a definition imported then run, each record set's rows as the school's
snapshot has them, and the errors SIMS gives."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollsync.missim.commandreporter import (
    CAPTIONS,
    IMPORTED,
    NOT_FOUND,
    definition_xml,
    encode_name,
)
from rollsync.simulate import SchoolSnapshot, make_school_truth, simulate_region
from rollsync.simulate.mis_data import MIS_DATA_FILE, dump_snapshot, load_snapshot

MODULE = "rollsync.missim.commandreporter"
AUTH = [
    "/USER:office",
    "/PASSWORD:Secret1",
    r"/SERVERNAME:SCHOOL-SRV\SIMS2008",
    "/DATABASENAME:sims",
]
USERS = {
    "office": {"password": "Secret1", "groups": ["School Administrator", "Third Party Reporter"]},
    "clerk": {"password": "Clerk2", "groups": ["School Administrator"]},
    "trusted": {"groups": ["Third Party Reporting"]},
}


@functools.cache
def _snap() -> SchoolSnapshot:
    return make_school_truth(pupils=20, phase="Primary")


@dataclass
class Sims:
    tmp: Path
    env: dict[str, str]

    def run(
        self, *args: str, importer: bool = False, **env: str
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", MODULE, *(["importer"] if importer else []), *args]
        return subprocess.run(
            argv, env={**self.env, **env}, capture_output=True, text=True, timeout=60
        )

    def define(self, name: str, recordset: str, captions: list[str] | tuple[str, ...]) -> str:
        path = self.tmp / f"{recordset}-{len(list(self.tmp.iterdir()))}.RptDef"
        path.write_bytes(definition_xml(name, recordset, captions))
        done = self.run(*AUTH, f"/REPORT:{path}", importer=True)
        assert done.returncode == 0 and done.stdout.strip() == IMPORTED, done
        return name

    def report(self, name: str, *auth: str) -> list[dict[str, str | None]]:
        done = self.run(*(auth or AUTH), f"/REPORT:{name}", "/QUIET")
        assert done.returncode == 0, done
        return records(done.stdout)


def records(text: str) -> list[dict[str, str | None]]:
    root = ET.fromstring(text)
    assert root.tag == "SuperStarReport", text[:200]
    return [{f.tag: f.text for f in rec} for rec in root.findall("Record")]


@pytest.fixture
def sims(tmp_path: Path) -> Sims:
    data = tmp_path / "mis-data.json"
    data.write_bytes(dump_snapshot(_snap()))
    users = tmp_path / "users.json"
    users.write_text(json.dumps(USERS))
    env = {
        **os.environ,
        "ROLLSYNC_FAKE_SIMS_DATA": str(data),
        "ROLLSYNC_FAKE_SIMS_USERS": str(users),
        "ROLLSYNC_FAKE_SIMS_STATE": str(tmp_path / "state"),
    }
    defs = tmp_path / "defs"
    defs.mkdir()
    return Sims(defs, env)


def _e(caption: str) -> str:
    return encode_name(caption)


def test_encode_name() -> None:
    assert encode_name("Legal Surname") == "Legal_x0020_Surname"
    assert encode_name("Year of entry") == "Year_x0020_of_x0020_entry"
    assert encode_name("1st/2nd") == "_x0031_st_x002F_2nd"
    assert encode_name("a_x0020_b") == "a_x005F_x0020_b"
    assert encode_name("Reg_Group") == "Reg_Group"


def test_students_to_stdout_with_escaped_captions(sims: Sims) -> None:
    sims.define("rollsync Students", "Students", CAPTIONS["Students"])
    done = sims.run(*AUTH, '/REPORT:"rollsync Students"')
    assert done.returncode == 0
    assert "<Legal_x0020_Surname>" in done.stdout and "<Date_x0020_of_x0020_Birth>" in done.stdout
    rows = records(done.stdout)
    snap = _snap()
    assert len(rows) == len(snap.pupils) > 0
    for row, p in zip(rows, snap.pupils, strict=True):
        assert list(row) == [_e(c) for c in CAPTIONS["Students"]]
        assert row["ID"] == p.mis_id and row["UPN"] == p.upn
        assert row[_e("Legal Surname")] == p.legal_family
        assert row[_e("Legal Forename")] == p.legal_given
        assert row[_e("Date of Birth")] == f"{p.dob.isoformat()}T00:00:00"
        assert row["Year"] == p.year_group and row[_e("Reg Group")] == p.reg_group


def test_output_file_and_only_the_definitions_captions(sims: Sims, tmp_path: Path) -> None:
    sims.define("rollsync Staff", "Staff", ["ID", "Staff Code", "Legal Surname", "Primary Email"])
    out = tmp_path / "staff.xml"
    done = sims.run(*AUTH, "/REPORT:rollsync Staff", f"/OUTPUT:{out}")
    assert done.returncode == 0 and done.stdout.strip() == ""
    rows = records(out.read_text("utf-8"))
    snap = _snap()
    assert rows == [
        {
            "ID": s.mis_id,
            _e("Staff Code"): s.staff_code,
            _e("Legal Surname"): s.legal_family,
            _e("Primary Email"): s.email,
        }
        for s in snap.staff
    ]
    assert rows


def test_contacts_one_row_per_link(sims: Sims) -> None:
    sims.define("rollsync Contacts", "Contacts", CAPTIONS["Contacts"])
    rows = sims.report("rollsync Contacts")
    snap = _snap()
    contacts = {c.mis_id: c for c in snap.contacts}
    assert len(rows) == len(snap.links) > len(snap.contacts) > 0
    for row, x in zip(rows, snap.links, strict=True):
        c = contacts[x.contact_mis_id]
        assert row[_e("ID")] == x.contact_mis_id
        assert row[_e("Pupil ID")] == x.pupil_mis_id
        assert row["Surname"] == c.legal_family and row["Relationship"] == x.relationship
        assert row["Priority"] == str(x.priority)
        assert row[_e("Parental Responsibility")] == str(x.parental_responsibility).lower()


def test_groups_one_row_per_member(sims: Sims) -> None:
    sims.define("rollsync Groups", "Groups", CAPTIONS["Groups"])
    rows = sims.report("rollsync Groups")
    snap = _snap()
    expected = [(g.mis_id, g.name, m[1]) for g in snap.groups for m in g.members]
    assert expected
    assert [(r[_e("Group ID")], r[_e("Group Name")], r[_e("Member ID")]) for r in rows] == expected


def test_attendance_marks(sims: Sims) -> None:
    sims.define("rollsync Attendance", "Attendance", CAPTIONS["Attendance"])
    rows = sims.report("rollsync Attendance")
    snap = _snap()
    assert snap.attendance
    assert [(r[_e("Pupil ID")], r["Session"], r["Mark"]) for r in rows] == [
        (m.pupil_mis_id, m.session, m.code) for m in snap.attendance
    ]


def test_wrong_password(sims: Sims) -> None:
    sims.define("rollsync Students", "Students", ["ID"])
    done = sims.run(
        "/USER:office",
        "/PASSWORD:nope",
        r"/SERVERNAME:S\I",
        "/DATABASENAME:d",
        "/REPORT:rollsync Students",
    )
    assert done.stdout.startswith("<CommandReporterError>")
    assert "Login failed" in done.stdout
    assert done.returncode == 0  # configurable: the real exit code is not documented
    again = sims.run(
        "/USER:nobody",
        "/PASSWORD:x",
        r"/SERVERNAME:S\I",
        "/DATABASENAME:d",
        "/REPORT:rollsync Students",
        ROLLSYNC_FAKE_SIMS_ERROR_EXIT="2",
    )
    assert again.returncode == 2 and again.stdout.startswith("<CommandReporterError>")
    imp = sims.run(
        "/USER:office",
        "/PASSWORD:nope",
        r"/SERVERNAME:S\I",
        "/DATABASENAME:d",
        "/REPORT:x.RptDef",
        importer=True,
    )
    assert imp.stdout.startswith("<CommandReporterError>")


def test_unknown_report(sims: Sims) -> None:
    done = sims.run(*AUTH, "/REPORT:Never Imported")
    assert done.stdout.startswith("<CommandReporterError>") and "Report not found" in done.stdout
    imp = sims.run(*AUTH, f"/REPORT:{sims.tmp / 'missing.RptDef'}", importer=True)
    assert imp.stdout.strip() == NOT_FOUND
    bad = sims.tmp / "bad.RptDef"
    bad.write_text(
        "<ReportDefinition name='x' recordset='Pets'><Field caption='ID'/></ReportDefinition>"
    )
    assert sims.run(*AUTH, f"/REPORT:{bad}", importer=True).stdout.strip() == NOT_FOUND


def test_without_third_party_group_ids_are_empty(sims: Sims) -> None:
    sims.define("rollsync Contacts", "Contacts", ["ID", "Pupil ID", "Surname"])
    clerk = ["/USER:clerk", "/PASSWORD:Clerk2", r"/SERVERNAME:S\I", "/DATABASENAME:d"]
    rows = sims.report("rollsync Contacts", *clerk)
    assert rows and all(r[_e("ID")] is None and r[_e("Pupil ID")] is None for r in rows)
    assert all(r["Surname"] for r in rows)
    full = sims.report("rollsync Contacts")
    assert all(r[_e("ID")] for r in full)


def test_duplicate_caption_is_a_runtime_error(sims: Sims) -> None:
    sims.define("rollsync Dup", "Students", ["ID", "Legal Surname", "Legal Surname"])
    done = sims.run(*AUTH, "/REPORT:rollsync Dup")
    assert done.stdout.startswith("<CommandReporterError>")
    assert "Legal Surname" in done.stdout and "more than once" in done.stdout


def test_trusted(sims: Sims) -> None:
    sims.define("rollsync Students", "Students", ["ID", "Legal Surname"])
    rows = sims.report("rollsync Students", "/TRUSTED", r"/SERVERNAME:S\I", "/DATABASENAME:d")
    assert len(rows) == len(_snap().pupils) and all(r["ID"] for r in rows)
    users = {k: v for k, v in USERS.items() if k != "trusted"}
    done = sims.run(
        "/TRUSTED",
        r"/SERVERNAME:S\I",
        "/DATABASENAME:d",
        "/REPORT:rollsync Students",
        ROLLSYNC_FAKE_SIMS_USERS=json.dumps(users),
    )
    assert done.stdout.startswith("<CommandReporterError>") and "Login failed" in done.stdout


def test_paramfile(sims: Sims, tmp_path: Path) -> None:
    sims.define("rollsync Students", "Students", ["ID"])
    params = tmp_path / "params.xml"
    params.write_text(
        '<ReportParameters><Parameter id="EffectiveDate" subreportfilter="FALSE" bypass="TRUE">'
        "<Name>Effective Date</Name><Type>Date</Type>"
        "<Values><Date>01/09/2026 00:00:00</Date></Values></Parameter></ReportParameters>"
    )
    done = sims.run(*AUTH, "/REPORT:rollsync Students", f"/PARAMFILE:{params}")
    assert len(records(done.stdout)) == len(_snap().pupils)
    missing = sims.run(*AUTH, "/REPORT:rollsync Students", f"/PARAMFILE:{tmp_path / 'no.xml'}")
    assert missing.stdout.startswith("<CommandReporterError>")


def test_faults(sims: Sims) -> None:
    sims.define("rollsync Students", "Students", ["ID"])
    crash = sims.run(*AUTH, "/REPORT:rollsync Students", ROLLSYNC_FAKE_SIMS_FAULTS="crash")
    assert crash.returncode != 0 and crash.stdout == ""
    garbage = sims.run(*AUTH, "/REPORT:rollsync Students", ROLLSYNC_FAKE_SIMS_FAULTS="garbage")
    with pytest.raises(ET.ParseError):
        ET.fromstring(garbage.stdout)
    started = time.monotonic()
    slow = sims.run(*AUTH, "/REPORT:rollsync Students", ROLLSYNC_FAKE_SIMS_FAULTS="slow=1")
    assert time.monotonic() - started >= 1 and len(records(slow.stdout)) == len(_snap().pupils)


def test_switch_names_and_report_names_ignore_case_and_reimport_replaces(sims: Sims) -> None:
    sims.define("rollsync Students", "Students", ["ID"])
    lower = ["/user:office", "/password:Secret1", r"/servername:S\I", "/databasename:d"]
    rows = sims.report("ROLLSYNC students", *lower)
    assert rows and list(rows[0]) == ["ID"]
    sims.define("rollsync Students", "Students", ["UPN", "Legal Surname"])
    assert list(sims.report("rollsync Students")[0]) == ["UPN", _e("Legal Surname")]


def test_a_simulated_days_mis_data(sims: Sims, tmp_path: Path) -> None:
    """The file `rollsync simulate --mis-data` writes is what the fake reads."""
    manifest = simulate_region(
        tmp_path / "la", schools=1, seed=3, days=1, scale=0.05, mis_data=True
    )
    path = tmp_path / "la" / "day-01" / manifest.schools[0].urn / MIS_DATA_FILE
    snap = load_snapshot(path.read_bytes())
    sims.define("rollsync Staff", "Staff", ["ID", "Legal Surname"])
    done = sims.run(*AUTH, "/REPORT:rollsync Staff", ROLLSYNC_FAKE_SIMS_DATA=str(path))
    assert snap.staff
    assert [r["ID"] for r in records(done.stdout)] == [s.mis_id for s in snap.staff]


@pytest.mark.parametrize(
    ("report", "recordset"),
    [
        ("students", "Students"),
        ("staff", "Staff"),
        ("contacts", "Contacts"),
        ("groups", "Groups"),
        ("attendance", "Attendance"),
    ],
)
def test_the_reader_reads_what_the_fake_writes(sims: Sims, report: str, recordset: str) -> None:
    """One caption table: a definition naming every caption the server's reader knows for
    the report, run by the fake, read back by `ingest.superstar` into the snapshot."""
    from rollsync.domain.state import SchoolRef
    from rollsync.ingest.superstar import CAPTIONS as READER_CAPTIONS
    from rollsync.ingest.superstar import SuperStarReader

    known = set(CAPTIONS[recordset])
    captions = [c for c in READER_CAPTIONS[report] if c in known]
    # every field the reader maps has a caption the fake writes (DOB is an alias)
    fields = {READER_CAPTIONS[report][c] for c in captions}
    assert fields == set(READER_CAPTIONS[report].values())
    sims.define(f"rollsync {recordset}", recordset, captions)
    done = sims.run(*AUTH, f"/REPORT:rollsync {recordset}", "/QUIET")
    assert done.returncode == 0, done
    snap = _snap()
    batch = SuperStarReader().parse(
        done.stdout.encode("utf-8"),
        school=SchoolRef(urn=snap.urn, la_code=snap.la_code, estab=snap.estab),
        report=report,
    )
    assert batch.errors == [], batch.errors[:3]
    if report == "students":
        assert sorted(p.mis_id for p in batch.people) == sorted(p.mis_id for p in snap.pupils)
        by_id = {p.mis_id: p for p in batch.people}
        for p in snap.pupils:
            got = by_id[p.mis_id]
            assert (got.legal_given_name, got.legal_family_name, got.date_of_birth, got.upn) == (
                p.legal_given,
                p.legal_family,
                p.dob,
                p.upn,
            )
    elif report == "staff":
        assert sorted(p.mis_id for p in batch.people) == sorted(p.mis_id for p in snap.staff)
    elif report == "contacts":
        assert sorted(p.mis_id for p in batch.people) == sorted(c.mis_id for c in snap.contacts)
        assert sorted(
            (x.contact_mis_id, x.pupil_mis_id, x.priority, x.parental_responsibility)
            for x in batch.contact_links
        ) == sorted(
            (x.contact_mis_id, x.pupil_mis_id, x.priority, x.parental_responsibility)
            for x in snap.links
        )
    elif report == "groups":
        assert sorted(g.mis_id for g in batch.groups) == sorted(g.mis_id for g in snap.groups)
        assert len(batch.memberships) == sum(len(g.members) for g in snap.groups)
    else:
        assert len(batch.attendance) == len(snap.attendance)


def test_a_fake_sims_folder_runs_with_only_commandreporters_switches(tmp_path: Path) -> None:
    from rollsync.missim.fake_sims import DEFAULT_USERS, install_fake_sims

    snap = copy.deepcopy(_snap())
    snap.pupils[0] = dataclasses.replace(snap.pupils[0], future=True)  # a starter in September
    day = tmp_path / "mis-data.json"
    day.write_bytes(dump_snapshot(snap))
    reporter = install_fake_sims(tmp_path / "SIMS", school_day=day)
    importer = reporter.with_name("CommandReportImporter")
    password = DEFAULT_USERS["rollsync"]["password"]
    auth = ["/USER:rollsync", f"/PASSWORD:{password}", r"/SERVERNAME:S\I", "/DATABASENAME:db"]
    definition = tmp_path / "students.RptDef"
    definition.write_bytes(
        definition_xml("rollsync Students", "Students", ["ID", "Legal Surname"], "current")
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROLLSYNC_FAKE_SIMS")}
    done = subprocess.run(
        [str(importer), *auth, f"/REPORT:{definition}"], env=clean, capture_output=True, text=True
    )
    assert done.stdout.strip() == IMPORTED, done
    out = subprocess.run(
        [str(reporter), *auth, "/REPORT:rollsync Students"], env=clean, capture_output=True
    )
    rows = records(out.stdout.decode())
    assert [r["ID"] for r in rows] == [p.mis_id for p in snap.pupils[1:]]
    assert set(rows[0]) == {"ID", "Legal_x0020_Surname"}
