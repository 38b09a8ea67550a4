"""Each writer against its format: CTF element paths, rollsync CSV headers,
OneRoster and SDS files, names written exactly in UTF-8."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from rollsync.domain.reports import CATALOGUE
from rollsync.simulate import make_school_truth, write_school_export
from tests.simulate.conftest import Sim
from tests.simulate.readers import bundle, csv_rows, entries, listed

DFE_CODES = {"/", "\\", "L", "I", "M", "N", "C", "O", "U", "B"}


def _school_with(sim: Sim, fmt: str) -> str:
    return str(next(s["urn"] for s in sim.la["schools"] if s["format"] == fmt))


def test_ctf_parses_and_has_the_expected_paths(sim: Sim) -> None:
    urn = _school_with(sim, "ctf")
    school = sim.manifest.school(urn)
    (entry,) = entries(sim.out, day=1, urn=urn)
    root = etree.fromstring((sim.out / entry["path"]).read_bytes())
    assert root.tag == "CTfile"
    assert root.findtext("Header/CTFversion") == "25.0"
    assert root.findtext("Header/DocumentQualifier") == "full"
    assert root.findtext("Header/SourceSchool/LEA") == school.la_code
    assert root.findtext("Header/SourceSchool/Estab") == school.estab
    assert root.findtext("Header/SourceSchool/URN") == urn
    assert root.findtext("Header/DateTime") == "2026-09-01T18:00:00"
    pupils = root.findall("CTFpupilData/Pupil")
    assert len(pupils) == len(sim.people_at(urn, 1, "pupil"))
    with_contacts = 0
    for p in pupils:
        for path in ("UPN", "Surname", "Forename", "DOB", "Sex", "BasicDetails/NCyearActual"):
            assert p.findtext(path), path
        assert p.findtext("Sex") in ("M", "F")
        assert p.findtext("Address/Postcode")
        assert p.findtext("SchoolHistory/School/URN") == urn
        assert p.findtext("SchoolHistory/School/EntryDate")
        orders = [c.findtext("Order") for c in p.iterfind("Contacts/Contact")]
        assert orders == [str(i) for i in range(1, len(orders) + 1)]
        for c in p.iterfind("Contacts/Contact"):
            with_contacts += 1
            assert c.findtext("Responsibility") in ("true", "false")
            assert c.findtext("Relationship") in ("PAM", "PAF", "STF", "CAR", "REL")
            assert c.findtext("Surname") and c.findtext("Forename")
    assert with_contacts >= len(pupils)
    assert root.find("CTFpupilData/Pupil/BasicDetails/MiddleNames") is not None


def test_rollsync_csv_headers_equal_the_catalogue(sim: Sim) -> None:
    seen = set()
    for e in entries(sim.out):
        if e["format"] != "csv":
            continue
        header = (sim.out / e["path"]).read_bytes().split(b"\r\n", 1)[0].decode("utf-8")
        assert header.split(",") == [f.name for f in CATALOGUE[e["report"]].fields]
        seen.add(e["report"])
    assert seen == set(CATALOGUE)  # the SIMS school sends every report, future ones too


def test_rollsync_csv_contacts_groups_attendance(sim: Sim) -> None:
    urn = next(s["urn"] for s in sim.la["schools"] if s["format"] == "csv" and s["mis"] == "SIMS")
    files = {e["report"]: sim.out / e["path"] for e in entries(sim.out, day=1, urn=urn)}
    students = csv_rows(files["students"].read_bytes())
    pupil_ids = {r["mis_id"] for r in students}
    contacts = csv_rows(files["contacts"].read_bytes())
    assert {r["pupil_mis_id"] for r in contacts} <= pupil_ids
    assert {r["parental_responsibility"] for r in contacts} <= {"true", "false"}
    assert all(r["priority"].isdigit() for r in contacts)
    groups = csv_rows(files["groups"].read_bytes())
    assert {r["group_kind"] for r in groups} >= {"registration", "year", "class"}
    assert {r["membership_role"] for r in groups} == {"teacher", "student"}
    marks = csv_rows(files["attendance"].read_bytes())
    assert len(marks) == 2 * len(students)
    assert {m["session"] for m in marks} == {"AM", "PM"}
    assert {m["code"] for m in marks} <= DFE_CODES
    assert all(m["date"] == "2026-09-01" for m in marks)


def test_oneroster_bundle(sim: Sim) -> None:
    urn = _school_with(sim, "oneroster")
    (entry,) = entries(sim.out, day=1, urn=urn)
    files = bundle(sim.out / entry["path"])
    assert set(files) == {
        "manifest.csv",
        "academicSessions.csv",
        "orgs.csv",
        "courses.csv",
        "classes.csv",
        "users.csv",
        "roles.csv",
        "enrollments.csv",
        "demographics.csv",
    }
    manifest = {r["propertyName"]: r["value"] for r in csv_rows(files["manifest.csv"])}
    assert manifest["oneroster.version"] == "1.2"
    assert manifest["file.users"] == "bulk" and manifest["file.results"] == "absent"
    orgs = {r["type"]: r for r in csv_rows(files["orgs.csv"])}
    assert orgs["school"]["identifier"] == urn
    users = {r["sourcedId"]: r for r in csv_rows(files["users.csv"])}
    roles = {r["userSourcedId"]: r["role"] for r in csv_rows(files["roles.csv"])}
    students = [u for sid, u in users.items() if roles[sid] == "student"]
    assert students and all(u["userIds"].startswith("{UPN:") for u in students)
    parents = {sid for sid, role in roles.items() if role in ("parent", "guardian", "relative")}
    linked = {a for u in students for a in u["agentSourcedIds"].split(",") if a}
    assert linked and linked <= parents
    classes = {r["sourcedId"] for r in csv_rows(files["classes.csv"])}
    for e in csv_rows(files["enrollments.csv"]):
        assert e["classSourcedId"] in classes and e["userSourcedId"] in users


def test_sds_bundle(sim: Sim) -> None:
    urn = _school_with(sim, "sds")
    (entry,) = entries(sim.out, day=1, urn=urn)
    files = bundle(sim.out / entry["path"])
    assert set(files) == {
        "orgs.csv",
        "users.csv",
        "roles.csv",
        "classes.csv",
        "enrollments.csv",
        "academicSessions.csv",
        "relationships.csv",
        "demographics.csv",
    }
    assert any(r["sourcedId"] == urn and r["type"] == "school" for r in csv_rows(files["orgs.csv"]))
    users = {r["sourcedId"] for r in csv_rows(files["users.csv"])}
    for r in csv_rows(files["relationships.csv"]):
        assert r["userSourcedId"] in users and r["relationshipUserSourcedId"] in users
        assert r["relationshipRole"] in ("parent", "guardian", "relative")
    assert all(r["phone"].startswith("+44") for r in csv_rows(files["users.csv"]) if r["phone"])


@pytest.mark.parametrize("fmt", ["ctf", "oneroster", "sds", "csv"])
def test_awkward_names_written_exactly_in_every_format(sim: Sim, fmt: str) -> None:
    typo_people = {t["person_id"] for t in sim.truth["typos"]}
    urn = _school_with(sim, fmt)
    by_key = {p.key: p for p in listed(sim.out, 1, urn) if p.role == "pupil"}
    kinds = {"apostrophe": False, "hyphen": False, "accent": False}
    for key, pid in sim.people_at(urn, 1, "pupil").items():
        if pid in typo_people:
            continue
        truth = sim.truth["people"][pid]
        got = by_key[key]
        assert (got.given, got.family) == (truth["legal_given_name"], truth["legal_family_name"])
        kinds["apostrophe"] |= "'" in got.family
        kinds["hyphen"] |= "-" in got.family
        kinds["accent"] |= not (got.given + got.family).isascii()
    assert kinds == {"apostrophe": True, "hyphen": True, "accent": True}
    # and the bytes are UTF-8, not a legacy code page
    for e in entries(sim.out, day=1, urn=urn):
        body = (sim.out / e["path"]).read_bytes()
        for data in bundle(sim.out / e["path"]).values() if body[:2] == b"PK" else [body]:
            data.decode("utf-8")


def test_future_starters_only_where_the_export_carries_them(sim: Sim) -> None:
    future = [s for s in sim.truth["starters"] if s["future"]]
    assert future
    for s in future:
        fmt = sim.format_on(s["urn"], s["day"])
        if fmt == "ctf":
            assert s["first_day_in_export"] is None or s["first_day_in_export"] > s["day"]


def test_big_school_in_every_format(tmp_path: Path) -> None:
    snap = make_school_truth(pupils=1500, seed=3)
    assert 1400 <= len(snap.pupils) <= 1600
    assert snap.staff and snap.contacts and snap.groups and snap.attendance
    for fmt in ("ctf", "oneroster", "sds", "csv"):
        written = write_school_export(snap, 1, fmt, tmp_path / fmt)
        assert written and all((tmp_path / fmt / e.path).is_file() for e in written)
        assert {e.format for e in written} == {fmt}
    ctf = etree.fromstring((tmp_path / "ctf" / "day-01" / snap.urn / "students.xml").read_bytes())
    assert len(ctf.findall("CTFpupilData/Pupil")) == len(snap.pupils)
    csv_files = {p.name for p in (tmp_path / "csv" / "day-01" / snap.urn).iterdir()}
    assert csv_files == {f"{report}.csv" for report in CATALOGUE}
