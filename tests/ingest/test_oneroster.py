"""OneRoster 1.1 and 1.2 CSV bundles."""

from __future__ import annotations

from datetime import date

import pytest

from rollsync.domain.records import (
    ContactLink,
    Deletion,
    Gender,
    GroupKind,
    GroupRecord,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
)
from rollsync.ingest import bundle_folder, parse_upload

from .helpers import (
    FIXTURES,
    OTHER_SCHOOL,
    SCHOOL,
    UPN_1,
    assert_refused,
    folder_files,
    where_in,
    zip_of,
)


def parse(payload: bytes, school=SCHOOL):
    return parse_upload(payload, fmt="oneroster", school=school)


def parse_files(files: dict[str, str], school=SCHOOL):
    return parse(zip_of(files), school)


def names(batch, role):
    return [p.mis_id for p in batch.people if p.role is role]


@pytest.fixture(scope="module")
def bulk11():
    return parse(bundle_folder(FIXTURES / "oneroster11"))


@pytest.fixture(scope="module")
def bulk12():
    return parse(bundle_folder(FIXTURES / "oneroster12"))


class TestOneRoster11Bulk:
    @pytest.fixture
    def batch(self, bulk11):
        return bulk11

    def test_pupils(self, batch):
        assert [p for p in batch.people if p.role is Role.PUPIL] == [
            PersonRecord(
                role=Role.PUPIL,
                mis_id="stu-1",
                legal_given_name="Zoë",
                legal_family_name="O'Brien",
                middle_names="Mary Anne",
                date_of_birth=date(2015, 2, 3),
                gender=Gender.FEMALE,
                upn=UPN_1,  # from userIds {UPN:...}
                year_group="R",
                registration_group="Robins",  # the homeroom class
                email="zoe@example.org",
                row=2,
                source="users.csv",
                unknown_fields=frozenset({"preferred_family_name", "preferred_given_name"}),
            ),
            PersonRecord(
                role=Role.PUPIL,
                mis_id="stu-2",
                legal_given_name="Tom",
                legal_family_name="Smith-Jones",
                date_of_birth=date(2015, 7, 11),
                gender=Gender.MALE,
                year_group="1",
                row=3,
                source="users.csv",
                unknown_fields=frozenset({"preferred_family_name", "preferred_given_name"}),
            ),
            PersonRecord(
                role=Role.PUPIL,
                mis_id="stu-3",
                legal_given_name="Ali",
                legal_family_name="Khan",
                date_of_birth=date(2014, 12, 1),
                gender=Gender.MALE,
                upn=None,  # bad check letter: dropped, the pupil kept
                year_group="2",
                row=4,
                source="users.csv",
                unknown_fields=frozenset({"preferred_family_name", "preferred_given_name", "upn"}),
            ),
        ]

    def test_staff(self, batch):
        assert [p for p in batch.people if p.role is Role.STAFF] == [
            PersonRecord(
                role=Role.STAFF,
                mis_id="tea-1",
                legal_given_name="Ravi",
                legal_family_name="Patel",
                date_of_birth=date(1980, 5, 6),
                gender=Gender.MALE,
                email="r.patel@example.org",
                phone="01234 111222",
                row=6,
                source="users.csv",
                unknown_fields=frozenset({"preferred_family_name", "preferred_given_name"}),
            ),
            PersonRecord(
                role=Role.STAFF,
                mis_id="adm-1",
                legal_given_name="Jo",
                legal_family_name="Bloggs",
                date_of_birth=date(1975, 9, 10),
                gender=Gender.FEMALE,
                row=7,
                source="users.csv",
                unknown_fields=frozenset({"preferred_family_name", "preferred_given_name"}),
            ),
        ]

    def test_contacts_and_links(self, batch):
        assert [p for p in batch.people if p.role is Role.CONTACT] == [
            PersonRecord(
                role=Role.CONTACT,
                mis_id="par-1",
                legal_given_name="Siobhán",
                legal_family_name="O'Brien",
                email="s.obrien@example.org",
                phone="07700 900001",  # sms, as there is no phone
                row=8,
                source="users.csv",
                unknown_fields=frozenset(
                    {"date_of_birth", "gender", "preferred_family_name", "preferred_given_name"}
                ),
            ),
            # at the trust's org, not the school's, but linked to a pupil here
            PersonRecord(
                role=Role.CONTACT,
                mis_id="par-2",
                legal_given_name="Dafydd",
                legal_family_name="Smith-Jones",
                row=9,
                source="users.csv",
                unknown_fields=frozenset(
                    {"date_of_birth", "gender", "preferred_family_name", "preferred_given_name"}
                ),
            ),
        ]
        assert batch.contact_links == [
            ContactLink("par-1", "stu-1", relationship="Parent", row=2),
            ContactLink("par-1", "stu-2", relationship="Parent", row=3),
            ContactLink("par-2", "stu-2", relationship="Guardian", row=3),
        ]

    def test_groups(self, batch):
        assert batch.groups == [
            GroupRecord("cls-robins", "Robins", GroupKind.REGISTRATION, row=2),
            GroupRecord("cls-maths", "Maths Set 1", GroupKind.CLASS, row=3),
        ]
        assert batch.memberships == [
            MembershipRecord("cls-robins", Role.PUPIL, "stu-1", MembershipRole.STUDENT, row=2),
            MembershipRecord("cls-robins", Role.STAFF, "tea-1", MembershipRole.TEACHER, row=3),
            MembershipRecord("cls-maths", Role.PUPIL, "stu-2", MembershipRole.STUDENT, row=4),
        ]

    def test_other_schools_records_are_left_out(self, batch):
        assert "stu-4" not in {p.mis_id for p in batch.people}
        assert "cls-vale" not in {g.mis_id for g in batch.groups}

    def test_batch(self, batch):
        assert batch.source_format == "oneroster"
        assert batch.reports == {"students", "staff", "contacts", "groups"}
        assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}
        assert batch.declared_urn == "123456"
        assert (batch.declared_la_code, batch.declared_estab) == (None, None)
        # data rows of orgs, users, demographics, classes, enrollments (not the manifest)
        assert batch.rows_read == 3 + 8 + 6 + 3 + 4

    def test_only_error_is_the_bad_upn(self, batch):
        assert where_in(batch) == [("users.csv", 4, "userIds")]
        assert "A202345615009 has check letter A" in batch.errors[0].message


class TestOneRoster12Bulk:
    @pytest.fixture
    def batch(self, bulk12):
        return bulk12

    def test_people(self, batch):
        assert batch.errors == []
        assert batch.people == [
            PersonRecord(
                role=Role.PUPIL,
                mis_id="stu-1",
                legal_given_name="Zoë",
                legal_family_name="O'Brien",
                preferred_given_name="Zo",
                date_of_birth=date(2015, 2, 3),
                gender=Gender.FEMALE,
                upn=UPN_1,
                year_group="5",
                registration_group="5H",
                row=2,
                source="users.csv",
            ),
            # teacher and counselor: one member of staff
            PersonRecord(
                role=Role.STAFF,
                mis_id="tea-1",
                legal_given_name="Ravi",
                legal_family_name="Patel",
                date_of_birth=date(1980, 5, 6),
                gender=Gender.OTHER,
                email="r.patel@example.org",
                row=3,
                source="users.csv",
            ),
            # the district administrator is not a person of the school
            PersonRecord(
                role=Role.CONTACT,
                mis_id="par-1",
                legal_given_name="Siobhán",
                legal_family_name="O'Brien",
                email="s.obrien@example.org",
                row=4,
                source="users.csv",
                unknown_fields=frozenset({"date_of_birth", "gender"}),
            ),
        ]
        assert batch.contact_links == [ContactLink("par-1", "stu-1", relationship="Parent", row=2)]

    def test_dfe_number_identifies_the_school(self, batch):
        assert (batch.declared_urn, batch.declared_la_code, batch.declared_estab) == (
            None,
            "202",
            "3456",
        )

    def test_complete_for_the_roles_it_holds(self, batch):
        assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}

    def test_preferred_name_spellings(self):
        files = folder_files("oneroster12")
        files["users.csv"] = files["users.csv"].replace("preferredGivenName", "preferredFirstName")
        batch = parse_files(files)
        assert batch.people[0].preferred_given_name == "Zo"


class TestDelta:
    def test_oneroster12_delta(self):
        batch = parse(bundle_folder(FIXTURES / "oneroster12_delta"))
        assert batch.errors == []
        assert batch.complete_for == frozenset()  # a delta lists changes only
        assert batch.people == [
            PersonRecord(
                role=Role.PUPIL,
                mis_id="stu-1",
                legal_given_name="Zoë",
                legal_family_name="O'Brien-Walsh",
                date_of_birth=date(2015, 2, 3),
                gender=Gender.FEMALE,
                year_group="5",
                row=2,
                source="users.csv",
                # a delta without classes says nothing of these
                unknown_fields=frozenset(
                    {"preferred_family_name", "preferred_given_name", "registration_group"}
                ),
            )
        ]
        assert batch.deletions == [
            Deletion(Role.PUPIL, "stu-9", row=3),  # the user is to be deleted
            Deletion(Role.STAFF, "tea-7", row=4),  # the role at this school ended
        ]
        assert batch.reports == {"students", "staff"}

    def test_oneroster11_delta_with_tobedeleted(self):
        files = folder_files("oneroster11")
        files["manifest.csv"] = files["manifest.csv"].replace("file.users,bulk", "file.users,delta")
        files["users.csv"] = (
            "sourcedId,status,dateLastModified,orgSourcedIds,role,givenName,familyName\n"
            "stu-1,active,2025-03-02,org-hill,student,Zoë,O'Brien\n"
            "stu-2,tobedeleted,2025-03-02,org-hill,student,Tom,Smith-Jones\n"
            "tea-1,tobedeleted,2025-03-02,org-hill,teacher,Ravi,Patel\n"
            "stu-4,tobedeleted,2025-03-02,org-vale,student,Vera,Other\n"
        )
        batch = parse_files(files)
        assert batch.errors == []
        assert names(batch, Role.PUPIL) == ["stu-1"]
        assert batch.deletions == [
            Deletion(Role.PUPIL, "stu-2", row=3),
            Deletion(Role.STAFF, "tea-1", row=4),
        ]
        assert batch.complete_for == frozenset()

    def test_delta_needs_a_status_column(self):
        files = folder_files("oneroster11")
        files["manifest.csv"] = files["manifest.csv"].replace("file.users,bulk", "file.users,delta")
        files["users.csv"] = "sourcedId,orgSourcedIds,role,givenName,familyName\n"
        assert_refused(parse_files(files), "users.csv has no status column")

    def test_tobedeleted_in_bulk_is_just_absent(self):
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].replace("stu-2,,", "stu-2,tobedeleted,")
        batch = parse_files(files)
        assert "stu-2" not in names(batch, Role.PUPIL)
        assert batch.deletions == []

    def test_deleted_user_with_no_role_anywhere(self):
        files = folder_files("oneroster12_delta")
        files["roles.csv"] = files["roles.csv"].replace("stu-9", "stu-8")
        batch = parse_files(files)
        assert ("users.csv", 3, "sourcedId") in where_in(batch)
        assert Deletion(Role.PUPIL, "stu-9", row=3) not in batch.deletions


class TestRowErrors:
    def test_missing_birth_date_skips_the_user(self):
        files = folder_files("oneroster11")
        files["demographics.csv"] = files["demographics.csv"].replace(
            "stu-2,,,2015-07-11", "stu-2,,,"
        )
        batch = parse_files(files)
        assert where_in(batch) == [
            ("demographics.csv", 3, "birthDate"),
            ("users.csv", 4, "userIds"),
        ]
        assert "stu-2" not in names(batch, Role.PUPIL)
        assert names(batch, Role.PUPIL) == ["stu-1", "stu-3"]

    def test_no_demographics_row_skips_a_pupil(self):
        files = folder_files("oneroster11")
        files["demographics.csv"] = files["demographics.csv"].replace(
            "stu-1,,,2015-02-03,female\n", ""
        )
        batch = parse_files(files)
        assert where_in(batch) == [("users.csv", 2, "sourcedId"), ("users.csv", 4, "userIds")]
        assert batch.errors[0].message == (
            "stu-1 has no row in demographics.csv, so no date of birth, which is mandatory "
            "for a pupil; the user was skipped"
        )
        assert names(batch, Role.PUPIL) == ["stu-2", "stu-3"]
        assert batch.rejected_keys == {(Role.PUPIL, "stu-1")}

    def test_staff_without_a_demographics_row_come_without_a_birth_date(self):
        files = folder_files("oneroster11")
        files["demographics.csv"] = files["demographics.csv"].replace(
            "tea-1,,,1980-05-06,male\n", ""
        )
        batch = parse_files(files)
        assert where_in(batch) == [("users.csv", 4, "userIds")]  # the fixture's bad UPN
        tea1 = next(p for p in batch.people if p.mis_id == "tea-1")
        assert (tea1.role, tea1.date_of_birth, tea1.gender) == (Role.STAFF, None, None)
        assert names(batch, Role.STAFF) == ["tea-1", "adm-1"]

    def test_bad_staff_birth_date_is_dropped_not_the_person(self):
        files = folder_files("oneroster11")
        files["demographics.csv"] = files["demographics.csv"].replace("1980-05-06", "6/5/1980")
        batch = parse_files(files)
        assert ("demographics.csv", 6, "birthDate") in where_in(batch)
        message = next(e.message for e in batch.errors if e.source == "demographics.csv")
        assert message.endswith("the member of staff in users.csv row 6 was imported without it")
        tea1 = next(p for p in batch.people if p.mis_id == "tea-1")
        assert (tea1.date_of_birth, tea1.gender) == (None, Gender.MALE)
        assert batch.rejected_keys == set()

    def test_slashed_birth_date_is_refused_as_ambiguous(self):
        files = folder_files("oneroster11")
        files["demographics.csv"] = files["demographics.csv"].replace("2015-02-03", "2/3/2015")
        batch = parse_files(files)
        assert ("demographics.csv", 2, "birthDate") in where_in(batch)
        assert "stu-1" not in names(batch, Role.PUPIL)

    def test_bad_sex_is_dropped(self):
        files = folder_files("oneroster11")
        files["demographics.csv"] = files["demographics.csv"].replace(
            "stu-3,,,2014-12-01,male", "stu-3,,,2014-12-01,lots"
        )
        batch = parse_files(files)
        assert ("demographics.csv", 4, "sex") in where_in(batch)
        stu3 = next(p for p in batch.people if p.mis_id == "stu-3")
        assert stu3.gender is None

    def test_empty_family_name(self):
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].replace("Tom,Smith-Jones", "Tom,")
        batch = parse_files(files)
        assert ("users.csv", 3, "familyName") in where_in(batch)
        assert names(batch, Role.PUPIL) == ["stu-1", "stu-3"]

    def test_duplicate_user_of_another_identity_refuses_both(self):
        # Was: the first was kept (an imposter first rewrote the pupil).
        files = folder_files("oneroster11")
        files["users.csv"] += "stu-1,,,true,org-hill,student,again,,Zoë,Again,,,,,,,R,\n"
        batch = parse_files(files)
        assert ("users.csv", 2, "sourcedId") in where_in(batch)
        assert ("users.csv", 10, "sourcedId") in where_in(batch)
        assert [p for p in batch.people if p.mis_id == "stu-1"] == []
        assert (Role.PUPIL, "stu-1") in batch.rejected_keys
        # par-1 is still listed through stu-2; no link to stu-1 is claimed
        assert [
            link.pupil_mis_id for link in batch.contact_links if link.pupil_mis_id == "stu-1"
        ] == []

    def test_unknown_role_at_this_school(self):
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].replace(
            "adm-1,,,true,org-hill,administrator", "adm-1,,,true,org-hill,wizard"
        )
        batch = parse_files(files)
        assert ("users.csv", 7, "role") in where_in(batch)
        assert names(batch, Role.STAFF) == ["tea-1"]

    def test_duplicate_enrollment(self):
        files = folder_files("oneroster11")
        files["enrollments.csv"] += "enr-5,,,cls-robins,org-hill,stu-1,student,false,,\n"
        batch = parse_files(files)
        assert ("enrollments.csv", 6, "userSourcedId") in where_in(batch)
        assert len(batch.memberships) == 3


class TestRejectedKeys:
    """A refused user whose sourcedId can be read is in `rejected_keys`: a bulk
    bundle still lists them, so they must not look like a leaver."""

    def test_bad_birth_date_in_a_bulk_bundle(self):
        files = folder_files("oneroster11")
        files["demographics.csv"] = files["demographics.csv"].replace("2015-02-03", "2015-02-30")
        batch = parse_files(files)
        assert where_in(batch) == [
            ("demographics.csv", 2, "birthDate"),
            ("users.csv", 4, "userIds"),  # the fixture's bad UPN
        ]
        assert batch.rejected_keys == {(Role.PUPIL, "stu-1")}
        assert "stu-1" not in {p.mis_id for p in batch.people}
        assert names(batch, Role.CONTACT) == ["par-1", "par-2"]  # par-1 is at the school
        assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}

    def test_oneroster12(self):
        files = folder_files("oneroster12")
        files["users.csv"] = files["users.csv"].replace("Ravi,Patel", "Ravi,")
        batch = parse_files(files)
        assert where_in(batch) == [("users.csv", 3, "familyName")]
        assert batch.rejected_keys == {(Role.STAFF, "tea-1")}
        assert names(batch, Role.STAFF) == []
        # nobody of the staff role is kept, but one is listed: still a full list
        assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}
        assert "staff" in batch.reports

    def test_a_refused_contact(self):
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].replace("Dafydd,Smith-Jones", "Dafydd,")
        batch = parse_files(files)
        assert ("users.csv", 9, "familyName") in where_in(batch)
        assert batch.rejected_keys == {(Role.CONTACT, "par-2")}
        assert [link.contact_mis_id for link in batch.contact_links] == ["par-1", "par-1"]

    def test_contacts_of_a_refused_pupil_are_still_listed(self):
        # par-2 is at the trust, brought in only as stu-2's guardian
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].replace("Tom,Smith-Jones", "Tom,")
        batch = parse_files(files)
        assert names(batch, Role.CONTACT) == ["par-1"]
        assert batch.rejected_keys == {(Role.PUPIL, "stu-2"), (Role.CONTACT, "par-2")}

    def test_a_row_with_too_many_values_still_names_its_user(self):
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].replace(
            'Tom,Smith-Jones,,1002,,,,"par-1,par-2",01,',
            'Tom,Smith,Jones,,1002,,,,"par-1,par-2",01,secret',
        )
        batch = parse_files(files)
        assert ("users.csv", 3, None) in where_in(batch)
        assert "stu-2" not in names(batch, Role.PUPIL)
        assert batch.rejected_keys == {(Role.PUPIL, "stu-2"), (Role.CONTACT, "par-2")}

    def test_no_readable_sourced_id_adds_nothing(self):
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].replace("stu-3,,,true", ",,,true")
        batch = parse_files(files)
        assert where_in(batch) == [("users.csv", 4, "sourcedId")]
        assert batch.errors[0].message == (
            "sourcedId is empty, but it is mandatory: rollsync cannot tell who this is; "
            "the row was skipped"
        )
        assert batch.rejected_keys == set()
        assert names(batch, Role.PUPIL) == ["stu-1", "stu-2"]

    def test_no_readable_user_in_roles_csv(self):
        files = folder_files("oneroster12")
        files["roles.csv"] = files["roles.csv"].replace(
            "rol-4,active,2025-03-01T10:00:00.000Z,par-1", "rol-4,active,2025-03-01T10:00:00.000Z,"
        )
        batch = parse_files(files)
        assert where_in(batch) == [("roles.csv", 5, "userSourcedId")]
        assert batch.rejected_keys == set()

    def test_a_refused_repeat_of_a_kept_pupil_refuses_both(self):
        # Was: stu-1 was kept from its first row. Which row is stu-1 cannot be told.
        files = folder_files("oneroster11")
        files["users.csv"] += "stu-1,,,true,org-hill,student,again,,Zoë,,,,,,,,R,\n"
        batch = parse_files(files)
        assert ("users.csv", 10, "familyName") in where_in(batch)
        assert ("users.csv", 2, "sourcedId") in where_in(batch)
        assert batch.rejected_keys == {(Role.PUPIL, "stu-1")}
        assert "stu-1" not in names(batch, Role.PUPIL)

    def test_a_delta_still_notes_refusals(self):
        files = folder_files("oneroster12_delta")
        files["users.csv"] = files["users.csv"].replace("O'Brien-Walsh", "")
        batch = parse_files(files)
        assert batch.complete_for == frozenset()
        assert batch.rejected_keys == {(Role.PUPIL, "stu-1")}

    def test_a_good_bundle_rejects_nobody(self, bulk11, bulk12):
        assert bulk11.rejected_keys == bulk12.rejected_keys == set()


class TestCompleteness:
    """A bulk bundle is complete only for the roles it lists anyone of."""

    def test_a_bundle_with_no_staff_claims_nothing_about_staff(self):
        files = folder_files("oneroster11")
        lines = files["users.csv"].splitlines(keepends=True)
        files["users.csv"] = "".join(
            line for line in lines if not line.startswith(("tea-1", "adm-1"))
        )
        batch = parse_files(files)
        assert names(batch, Role.STAFF) == []
        assert batch.complete_for == {Role.PUPIL, Role.CONTACT}
        assert "staff" not in batch.reports

    def test_an_empty_bulk_bundle_claims_nothing(self):
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].splitlines(keepends=True)[0]
        batch = parse_files(files)
        assert batch.people == []
        assert batch.complete_for == frozenset()


class TestWholeFile:
    def test_not_a_zip(self):
        assert_refused(parse(b"sourcedId,name\n1,x\n"), "not a zip file")

    def test_missing_manifest(self):
        files = folder_files("oneroster11")
        del files["manifest.csv"]
        assert_refused(parse_files(files), "no manifest.csv")

    @pytest.mark.parametrize("version", ["1.0", "1.10", "2.0", ""])
    def test_unknown_version(self, version):
        files = folder_files("oneroster11")
        files["manifest.csv"] = files["manifest.csv"].replace(
            "oneroster.version,1.1", f"oneroster.version,{version}"
        )
        assert_refused(parse_files(files), f"oneroster.version '{version}'")

    def test_point_release_is_read(self):
        files = folder_files("oneroster12")
        files["manifest.csv"] = files["manifest.csv"].replace(
            "oneroster.version,1.2", "oneroster.version,1.2.1"
        )
        assert not parse_files(files).fatal

    def test_bad_mode(self):
        files = folder_files("oneroster11")
        files["manifest.csv"] = files["manifest.csv"].replace(
            "file.classes,bulk", "file.classes,full"
        )
        assert_refused(parse_files(files), "file.classes 'full'")

    def test_file_promised_but_missing(self):
        files = folder_files("oneroster11")
        del files["enrollments.csv"]
        assert_refused(
            parse_files(files),
            "manifest.csv says enrollments.csv is bulk, but the zip has no enrollments.csv",
        )

    def test_missing_mandatory_column(self):
        files = folder_files("oneroster11")
        files["users.csv"] = files["users.csv"].replace("givenName", "firstName")
        error = assert_refused(parse_files(files), "users.csv has no givenName column")
        assert error.source == "users.csv"

    def test_orgs_without_identifier(self):
        files = folder_files("oneroster11")
        files["orgs.csv"] = "sourcedId,name,type\norg-hill,Hillside,school\n"
        assert_refused(parse_files(files), "orgs.csv has no identifier column")

    def test_wrong_school_names_the_identifiers_found(self):
        error = assert_refused(parse(bundle_folder(FIXTURES / "oneroster11"), OTHER_SCHOOL))
        assert error.message == (
            "No org in orgs.csv is Far Away School (URN 999999, LA 203 establishment 1111): "
            "the identifiers found are 123456, 654321"
        )

    def test_demographics_absent_from_a_bulk_bundle(self):
        # Staff come without a date of birth; each pupil, who needs one, is a row error.
        files = folder_files("oneroster11")
        files["manifest.csv"] = files["manifest.csv"].replace(
            "file.demographics,bulk", "file.demographics,absent"
        )
        del files["demographics.csv"]
        batch = parse_files(files)
        assert not batch.fatal
        assert where_in(batch) == [
            ("users.csv", 2, "sourcedId"),
            ("users.csv", 3, "sourcedId"),
            ("users.csv", 4, "userIds"),
            ("users.csv", 4, "sourcedId"),
        ]
        assert batch.errors[0].message == (
            "stu-1 has no date of birth, as the bundle has no demographics.csv, which is "
            "mandatory for a pupil; the user was skipped"
        )
        assert names(batch, Role.PUPIL) == []
        assert [(p.mis_id, p.date_of_birth) for p in batch.people if p.role is Role.STAFF] == [
            ("tea-1", None),
            ("adm-1", None),
        ]
        assert names(batch, Role.CONTACT) == ["par-1"]  # holds its role at the school
        # the pupils are still listed (and par-2, whose only pupil here was refused)
        assert batch.rejected_keys == {
            (Role.PUPIL, "stu-1"),
            (Role.PUPIL, "stu-2"),
            (Role.PUPIL, "stu-3"),
            (Role.CONTACT, "par-2"),
        }
        # a full list of pupils, all refused: the planner's guard holds the run
        assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}
        assert batch.reports == {"students", "staff", "contacts", "groups"}

    def test_users_absent(self):
        files = folder_files("oneroster11")
        files["manifest.csv"] = files["manifest.csv"].replace(
            "file.users,bulk", "file.users,absent"
        )
        assert_refused(parse_files(files), "rollsync needs both")

    def test_files_inside_a_folder_are_found(self):
        batch = parse(zip_of(folder_files("oneroster11"), folder="export-2025-03-01/"))
        assert not batch.fatal
        assert len(batch.people) == 7

    def test_a_file_in_two_folders_is_ambiguous(self):
        files = folder_files("oneroster11")
        payload = zip_of({**files, "old/users.csv": files["users.csv"]})
        assert_refused(parse(payload), "users.csv more than once")

    def test_bom_and_cp1252_members(self):
        files: dict[str, str | bytes] = dict(folder_files("oneroster11"))
        files["users.csv"] = str(files["users.csv"]).encode("cp1252")
        files["orgs.csv"] = b"\xef\xbb\xbf" + str(files["orgs.csv"]).encode("utf-8")
        batch = parse(zip_of(files))
        assert not batch.fatal
        assert batch.people[0].legal_given_name == "Zoë"
