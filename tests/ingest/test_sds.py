"""Microsoft School Data Sync (SDS) v2.1 CSV bundles."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from rollsync.domain.records import (
    ContactLink,
    Gender,
    GroupKind,
    GroupRecord,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
)
from rollsync.domain.reports import CATALOGUE, FieldSpec
from rollsync.ingest import bundle_folder, parse_upload

from .helpers import FIXTURES, OTHER_SCHOOL, SCHOOL, assert_refused, folder_files, where_in, zip_of


def parse(payload: bytes, school=SCHOOL):
    return parse_upload(payload, fmt="sds", school=school)


def parse_files(files: dict[str, str], school=SCHOOL):
    return parse(zip_of(files), school)


@pytest.fixture(scope="module")
def sds():
    return parse(bundle_folder(FIXTURES / "sds"))


def test_people(sds):
    assert sds.errors == []
    assert sds.people == [
        PersonRecord(
            role=Role.PUPIL,
            mis_id="s-1",
            legal_given_name="Zoë",
            legal_family_name="O'Brien",
            date_of_birth=date(2015, 2, 3),
            gender=Gender.FEMALE,
            year_group="R",  # roles.csv grade
            email="zoe@hill.example.org",
            row=2,
            source="users.csv",
            unknown_fields=frozenset(
                {"middle_names", "preferred_family_name", "preferred_given_name", "upn"}
            ),
        ),
        PersonRecord(
            role=Role.PUPIL,
            mis_id="s-2",
            legal_given_name="Tom",
            legal_family_name="Smith-Jones",
            date_of_birth=date(2015, 7, 11),
            gender=Gender.MALE,
            year_group="1",
            row=3,
            source="users.csv",
            unknown_fields=frozenset(
                {"middle_names", "preferred_family_name", "preferred_given_name", "upn"}
            ),
        ),
        PersonRecord(
            role=Role.STAFF,
            mis_id="t-1",
            legal_given_name="Ravi",
            legal_family_name="Patel",
            date_of_birth=date(1980, 5, 6),
            gender=Gender.UNKNOWN,  # notSelected
            email="r.patel@hill.example.org",
            phone="+441234111222",
            row=4,
            source="users.csv",
            unknown_fields=frozenset(
                {"middle_names", "preferred_family_name", "preferred_given_name"}
            ),
        ),
        PersonRecord(
            role=Role.CONTACT,
            mis_id="g-1",
            legal_given_name="Siobhán",
            legal_family_name="O'Brien",
            email="siobhan@example.org",
            phone="+447700900001",
            row=5,
            source="users.csv",
            unknown_fields=frozenset(
                {
                    "date_of_birth",
                    "gender",
                    "middle_names",
                    "preferred_family_name",
                    "preferred_given_name",
                }
            ),
        ),
    ]


def test_contact_links(sds):
    assert sds.contact_links == [
        ContactLink("g-1", "s-1", relationship="Parent", row=2),
        ContactLink("g-1", "s-2", relationship="Parent", row=3),
    ]


def test_groups(sds):
    assert sds.groups == [GroupRecord("c-1", "Maths Set 1", GroupKind.CLASS, row=2)]
    assert sds.memberships == [
        MembershipRecord("c-1", Role.PUPIL, "s-1", MembershipRole.STUDENT, row=2),
        MembershipRecord("c-1", Role.STAFF, "t-1", MembershipRole.TEACHER, row=3),
    ]


def test_batch(sds):
    assert sds.source_format == "sds"
    assert sds.reports == {"students", "staff", "contacts", "groups"}
    assert sds.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}  # always a full snapshot
    assert (sds.declared_urn, sds.declared_la_code, sds.declared_estab) == (None, "202", "3456")
    assert sds.rows_read == 3 + 5 + 4 + 2 + 3 + 4 + 3  # academicSessions.csv is not read


def test_org_found_by_urn_in_an_identifier_column():
    files = folder_files("sds")
    files["orgs.csv"] = "sourcedId,name,type,identifier\nHILL,Hillside,school,URN 123456\n"
    files["orgs.csv"] = files["orgs.csv"].replace("URN 123456", "123456")
    for name in ("roles.csv", "classes.csv"):
        files[name] = files[name].replace("2023456", "HILL")
    batch = parse_files(files)
    assert batch.declared_urn == "123456"
    assert len(batch.people) == 4


def test_unknown_role_is_ignored_with_an_error():
    files = folder_files("sds")
    files["roles.csv"] = files["roles.csv"].replace("t-1,2023456,teacher", "t-1,2023456,wizard")
    batch = parse_files(files)
    assert where_in(batch) == [("roles.csv", 4, "role")]
    assert "t-1" not in {p.mis_id for p in batch.people}


def test_bad_birth_date_skips_the_pupil():
    files = folder_files("sds")
    files["demographics.csv"] = files["demographics.csv"].replace("2015-07-11", "7/11/2015")
    batch = parse_files(files)
    assert where_in(batch) == [("demographics.csv", 3, "birthDate")]
    assert batch.errors[0].message == (
        "birthDate '7/11/2015' is not a date written as YYYY-MM-DD or YYYYMMDD; "
        "users.csv row 3 was skipped"
    )
    assert [p.mis_id for p in batch.people if p.role is Role.PUPIL] == ["s-1"]
    # a contact of a skipped pupil is linked only to the pupils that came through
    assert [link.pupil_mis_id for link in batch.contact_links] == ["s-1"]
    # ... and the skipped pupil is still listed: not a leaver
    assert batch.rejected_keys == {(Role.PUPIL, "s-2")}
    assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}


def test_relationship_to_an_unknown_user():
    files = folder_files("sds")
    files["relationships.csv"] += "s-2,g-404,guardian\n"
    batch = parse_files(files)
    assert where_in(batch) == [("relationships.csv", 5, "relationshipUserSourcedId")]
    assert len(batch.contact_links) == 2


def test_without_relationships_there_are_no_contacts():
    files = folder_files("sds")
    del files["relationships.csv"]
    batch = parse_files(files)
    assert [p for p in batch.people if p.role is Role.CONTACT] == []
    assert batch.reports == {"students", "staff", "groups"}


def test_missing_required_file():
    files = folder_files("sds")
    del files["roles.csv"]
    assert_refused(parse_files(files), "The SDS zip has no roles.csv")


def test_missing_demographics_file():
    # Staff come without a date of birth; each pupil, who needs one, is a row error.
    files = folder_files("sds")
    del files["demographics.csv"]
    batch = parse_files(files)
    assert not batch.fatal
    assert where_in(batch) == [("users.csv", 2, "sourcedId"), ("users.csv", 3, "sourcedId")]
    assert batch.errors[0].message == (
        "s-1 has no date of birth, as the bundle has no demographics.csv, which is mandatory "
        "for a pupil; the user was skipped"
    )
    assert [(p.role, p.mis_id, p.date_of_birth, p.gender) for p in batch.people] == [
        (Role.STAFF, "t-1", None, None)
    ]
    # the pupils are still listed, and so is g-1, the contact of both
    assert batch.rejected_keys == {
        (Role.PUPIL, "s-1"),
        (Role.PUPIL, "s-2"),
        (Role.CONTACT, "g-1"),
    }
    assert batch.contact_links == []
    # a full list of pupils, all refused: the planner's guard holds the run
    assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}
    assert batch.reports == {"students", "staff", "contacts", "groups"}


def test_staff_without_a_demographics_row_come_without_a_birth_date():
    files = folder_files("sds")
    files["demographics.csv"] = files["demographics.csv"].replace(
        "t-1,notSelected,1980-05-06,,,GB,,\n", ""
    )
    batch = parse_files(files)
    assert batch.errors == []
    t1 = next(p for p in batch.people if p.mis_id == "t-1")
    assert (t1.role, t1.date_of_birth) == (Role.STAFF, None)


def test_empty_pupil_birth_date():
    files = folder_files("sds")
    files["demographics.csv"] = files["demographics.csv"].replace("male,2015-07-11", "male,")
    batch = parse_files(files)
    assert where_in(batch) == [("demographics.csv", 3, "birthDate")]
    assert batch.errors[0].message == (
        "birthDate is empty, but a date of birth is mandatory for a pupil; users.csv row 3 "
        "was skipped"
    )
    assert batch.rejected_keys == {(Role.PUPIL, "s-2")}


def test_a_refused_member_of_staff():
    files = folder_files("sds")
    files["users.csv"] = files["users.csv"].replace("Ravi,Patel", ",Patel")
    batch = parse_files(files)
    assert where_in(batch) == [("users.csv", 4, "givenName")]
    assert batch.rejected_keys == {(Role.STAFF, "t-1")}
    assert "t-1" not in {p.mis_id for p in batch.people}
    assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}


def test_a_refused_contact():
    files = folder_files("sds")
    files["users.csv"] = files["users.csv"].replace("Siobhán,O'Brien", "Siobhán,")
    batch = parse_files(files)
    assert where_in(batch) == [("users.csv", 5, "familyName")]  # reported once, for two links
    assert batch.rejected_keys == {(Role.CONTACT, "g-1")}
    assert batch.contact_links == []


def test_a_row_with_too_many_values_still_names_its_user():
    files = folder_files("sds")
    files["users.csv"] = files["users.csv"].replace("Siobhán,O'Brien", "Siobhán,O,Brien")
    batch = parse_files(files)
    assert where_in(batch) == [("users.csv", 5, None)]  # not also "not in users.csv"
    assert batch.rejected_keys == {(Role.CONTACT, "g-1")}
    assert batch.contact_links == []


def test_a_pupil_row_with_too_many_values():
    files = folder_files("sds")
    files["users.csv"] = files["users.csv"].replace(
        "s-2,tsmith@hill.example.org,Tom,Smith-Jones,,,,,",
        "s-2,tsmith@hill.example.org,Tom,Smith,Jones,,,,,x",
    )
    batch = parse_files(files)
    assert where_in(batch) == [("users.csv", 3, None)]
    assert batch.rejected_keys == {(Role.PUPIL, "s-2")}  # g-1 comes in through s-1


def test_no_readable_user_id_adds_nothing():
    files = folder_files("sds")
    files["roles.csv"] = files["roles.csv"].replace("t-1,2023456,teacher", ",2023456,teacher")
    files["users.csv"] = files["users.csv"].replace("t-1,rpatel", ",rpatel")
    batch = parse_files(files)
    assert where_in(batch) == [("roles.csv", 4, "userSourcedId")]
    assert batch.rejected_keys == set()
    assert "" not in {p.mis_id for p in batch.people}


def test_a_good_bundle_rejects_nobody(sds):
    assert sds.rejected_keys == set()


def test_a_bundle_with_no_staff_claims_nothing_about_staff():
    files = folder_files("sds")
    files["roles.csv"] = files["roles.csv"].replace(
        "t-1,2023456,teacher,SY2025,,TRUE,2025-09-03,2026-07-22\n", ""
    )
    batch = parse_files(files)
    assert [p for p in batch.people if p.role is Role.STAFF] == []
    assert batch.complete_for == {Role.PUPIL, Role.CONTACT}
    assert "staff" not in batch.reports


def test_missing_mandatory_column():
    files = folder_files("sds")
    files["users.csv"] = files["users.csv"].replace("familyName", "surname")
    assert_refused(parse_files(files), "users.csv has no familyName column")


def test_wrong_school():
    error = assert_refused(parse(bundle_folder(FIXTURES / "sds"), OTHER_SCHOOL))
    assert "the identifiers found are TRUST1, 2023456, VALE1" in error.message


def test_not_a_zip():
    assert_refused(parse(b"\x00\x01\x02"), "not a zip file")


def test_whether_staff_need_a_birth_date_is_the_catalogues_call(monkeypatch):
    # Were the catalogue to make it mandatory again, a member of staff without one
    # would be refused like a pupil (and still listed): nothing is hard-coded.
    spec = CATALOGUE["staff"]
    fields = tuple(
        FieldSpec(f.name, True, f.label) if f.name == "date_of_birth" else f for f in spec.fields
    )
    monkeypatch.setitem(CATALOGUE, "staff", dataclasses.replace(spec, fields=fields))  # type: ignore[arg-type]
    files = folder_files("sds")
    files["demographics.csv"] = files["demographics.csv"].replace(
        "t-1,notSelected,1980-05-06,,,GB,,\n", ""
    )
    batch = parse_files(files)
    assert where_in(batch) == [("users.csv", 4, "sourcedId")]
    assert batch.errors[0].message == (
        "t-1 has no row in demographics.csv, so no date of birth, which is mandatory for a "
        "member of staff; the user was skipped"
    )
    assert batch.rejected_keys == {(Role.STAFF, "t-1")}


def test_upn_in_user_number_is_verified_and_an_admission_number_is_not_a_upn():
    files = folder_files("sds")
    users = files["users.csv"].splitlines()
    users[0] += ",userNumber"
    users[1] += ",K202345623017"  # Zoë: a valid UPN
    users[2] += ",K202345623018"  # Tom: a UPN with the wrong check letter
    files["users.csv"] = "\n".join(u if i < 3 else u + "," for i, u in enumerate(users)) + "\n"
    batch = parse_files(files)
    upns = {p.mis_id: p.upn for p in batch.people if p.role is Role.PUPIL}
    assert upns == {"s-1": "K202345623017", "s-2": None}
    assert where_in(batch) == [("users.csv", 3, "userNumber")]
    assert "the pupil was imported without a UPN" in batch.errors[0].message
    files["users.csv"] = files["users.csv"].replace("K202345623018", "10234")
    assert {p.upn for p in parse_files(files).people if p.mis_id == "s-2"} == {None}
    assert parse_files(files).errors == []
