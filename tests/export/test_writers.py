"""The pure writers: the columns the standards name, values written exactly (commas,
quotes, accents), what bulk leaves out, and files present only when there is data."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role
from rollsync.domain.state import SchoolRef
from rollsync.export import Group, Link, Membership, Org, Person, Placement, Roster
from rollsync.export import oneroster as oro
from rollsync.export import sds as sdso
from rollsync.export.oneroster import write_oneroster
from rollsync.export.sds import write_sds
from rollsync.ingest.oneroster import OneRosterReader
from rollsync.ingest.sds import SdsReader

SCHOOL = SchoolRef(urn="100001", la_code="202", estab="2001")
ORGS = (
    Org("LA202", "Northshire", "district", "202"),
    Org("100001", "Hillside Primary", "school", "100001", "LA202"),
)
PUPIL = Person(
    uid="u-pupil",
    username="aokeefe",
    given_name='Aoife, "Ffi"',
    family_name="O'Keefe-Ní Bhriain",
    middle_names="Mary\nJane",
    date_of_birth=date(2017, 3, 4),
    gender=Gender.FEMALE,
    upn="K871326821048",
)
TEACHER = Person(uid="u-teacher", username="jsmith", given_name="Jo", family_name="Smith")
MUM = Person(uid="u-mum", username="mokeefe", given_name="Mairead", family_name="O'Keefe")
LEFT = Person(uid="u-left", username="gone", given_name="Gone", family_name="Away")


def _roster(*, since: datetime | None = None, people: tuple[Person, ...] | None = None) -> Roster:
    return Roster(
        orgs=ORGS,
        as_of=date(2026, 11, 30),
        people=people or (PUPIL, TEACHER, MUM, LEFT),
        placements=(
            Placement("u-pupil", "100001", Role.PUPIL, year_group="3"),
            Placement("u-teacher", "100001", Role.STAFF),
            Placement("u-mum", "100001", Role.CONTACT),
            Placement("u-left", "100001", Role.PUPIL, active=False, year_group="3"),
        ),
        groups=(Group("7", "100001", "3B", GroupKind.REGISTRATION),),
        memberships=(
            Membership("7", "u-pupil", MembershipRole.STUDENT),
            Membership("7", "u-teacher", MembershipRole.TEACHER),
        ),
        links=(Link("u-mum", "u-pupil", "Mother"),),
        since=since,
    )


def _read(payload: bytes) -> dict[str, tuple[list[str], list[dict[str, str]]]]:
    out = {}
    with zipfile.ZipFile(io.BytesIO(payload)) as bundle:
        for name in bundle.namelist():
            reader = csv.DictReader(io.StringIO(bundle.read(name).decode("utf-8")))
            rows = list(reader)
            out[name] = (list(reader.fieldnames or ()), rows)
    return out


def test_oneroster_bulk_has_the_standard_columns_and_leaves_the_unallocated_out() -> None:
    files = _read(write_oneroster(_roster()))
    assert set(files) == {
        "manifest.csv", "orgs.csv", "academicSessions.csv", "users.csv", "roles.csv",
        "demographics.csv", "courses.csv", "classes.csv", "enrollments.csv",
    }  # fmt: skip
    assert files["users.csv"][0] == list(oro.USERS)
    assert files["roles.csv"][0] == list(oro.ROLES)
    assert files["classes.csv"][0] == list(oro.CLASSES)
    assert files["enrollments.csv"][0] == list(oro.ENROLLMENTS)
    assert files["demographics.csv"][0] == list(oro.DEMOGRAPHICS)
    users = {row["sourcedId"]: row for row in files["users.csv"][1]}
    assert set(users) == {"u-pupil", "u-teacher", "u-mum"}
    pupil = users["u-pupil"]
    assert (pupil["givenName"], pupil["familyName"]) == ('Aoife, "Ffi"', "O'Keefe-Ní Bhriain")
    assert pupil["middleName"] == "Mary Jane"  # no line break inside a value
    assert (pupil["userIds"], pupil["grades"], pupil["agentSourcedIds"]) == (
        "{UPN:K871326821048}",
        "03",
        "u-mum",
    )
    assert (pupil["status"], pupil["dateLastModified"]) == ("", "")
    roles = {(r["userSourcedId"], r["role"], r["roleType"]) for r in files["roles.csv"][1]}
    assert roles == {
        ("u-pupil", "student", "primary"),
        ("u-teacher", "teacher", "primary"),
        ("u-mum", "parent", "primary"),
    }
    demographics = {
        r["sourcedId"]: (r["birthDate"], r["sex"]) for r in files["demographics.csv"][1]
    }
    assert demographics == {"u-pupil": ("2017-03-04", "female")}
    assert [r["classType"] for r in files["classes.csv"][1]] == ["homeroom"]


def test_oneroster_without_demographic_data_marks_the_file_absent() -> None:
    files = _read(write_oneroster(_roster(people=(TEACHER, MUM))))
    assert "demographics.csv" not in files
    manifest = {r["propertyName"]: r["value"] for r in files["manifest.csv"][1]}
    assert manifest["file.demographics"] == "absent" and manifest["file.users"] == "bulk"


def test_oneroster_delta_stamps_every_row_and_deletes_the_unallocated() -> None:
    since = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    files = _read(write_oneroster(_roster(since=since)))
    users = {row["sourcedId"]: row["status"] for row in files["users.csv"][1]}
    assert users == {
        "u-pupil": "active",
        "u-teacher": "active",
        "u-mum": "active",
        "u-left": "tobedeleted",
    }
    assert {row["dateLastModified"] for row in files["users.csv"][1]} == {
        "2026-11-29T18:00:00.000Z"
    }
    assert "classes.csv" not in files and "enrollments.csv" not in files


def test_both_read_back_by_rollsyncs_importers() -> None:
    roster = _roster()
    for reader, payload in (
        (OneRosterReader(), write_oneroster(roster)),
        (SdsReader(), write_sds(roster)),
    ):
        batch = reader.parse(payload, school=SCHOOL, report=None)
        assert batch.errors == [], batch.errors
        people = {(p.role, p.mis_id, p.legal_given_name, p.date_of_birth) for p in batch.people}
        assert people == {
            (Role.PUPIL, "u-pupil", 'Aoife, "Ffi"', date(2017, 3, 4)),
            (Role.STAFF, "u-teacher", "Jo", None),
            (Role.CONTACT, "u-mum", "Mairead", None),
        }
        assert [(link.contact_mis_id, link.pupil_mis_id) for link in batch.contact_links] == [
            ("u-mum", "u-pupil")
        ]
        assert sorted((ms.person_mis_id, ms.role) for ms in batch.memberships) == [
            ("u-pupil", MembershipRole.STUDENT),
            ("u-teacher", MembershipRole.TEACHER),
        ]


def test_sds_has_the_standard_columns_and_no_contact_role() -> None:
    files = _read(write_sds(_roster()))
    assert set(files) == {
        "orgs.csv", "users.csv", "roles.csv", "demographics.csv", "classes.csv",
        "enrollments.csv", "relationships.csv",
    }  # fmt: skip
    for name, header in (
        ("orgs.csv", sdso.ORGS),
        ("users.csv", sdso.USERS),
        ("roles.csv", sdso.ROLES),
        ("classes.csv", sdso.CLASSES),
        ("enrollments.csv", sdso.ENROLLMENTS),
        ("demographics.csv", sdso.DEMOGRAPHICS),
        ("relationships.csv", sdso.RELATIONSHIPS),
    ):
        assert files[name][0] == list(header), name
    assert [(r["userSourcedId"], r["role"], r["grade"]) for r in files["roles.csv"][1]] == [
        ("u-pupil", "student", "03"),
        ("u-teacher", "teacher", ""),
    ]
    assert {r["sourcedId"] for r in files["users.csv"][1]} == {"u-pupil", "u-teacher", "u-mum"}
    assert files["relationships.csv"][1] == [
        {
            "userSourcedId": "u-pupil",
            "relationshipUserSourcedId": "u-mum",
            "relationshipRole": "parent",
        }
    ]


def test_sds_without_links_writes_no_relationships_file() -> None:
    roster = _roster()
    bare = Roster(
        orgs=roster.orgs,
        as_of=roster.as_of,
        people=roster.people,
        placements=roster.placements,
    )
    assert "relationships.csv" not in _read(write_sds(bare))
