"""Issue 7, the importers' side: no export may overwrite a child's identity or
quietly claim that people left. One class per rule, each across the formats."""

from __future__ import annotations

import zipfile
from datetime import date

import pytest

from rollsync.domain import limits
from rollsync.domain.records import Role
from rollsync.domain.reports import CONTACTS, GROUPS
from rollsync.ingest import bundles, parse_upload
from tests.zips import zip_members

from .helpers import (
    SCHOOL,
    UPN_1,
    UPN_2,
    assert_refused,
    ctf_doc,
    ctf_pupil,
    folder_files,
    where,
    where_in,
    zip_of,
)

HEADER = "mis_id,legal_given_name,legal_family_name,date_of_birth"
TODAY = date(2026, 11, 30)
# 1990-01-01 in full-width digits, which `\d` would take for digits
FULL_WIDTH_DATE = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in "1990-01-01")


def csv(report: str, *lines: str, end: str = "\n", today: date = TODAY):
    text = "\n".join(lines) + end
    return parse_upload(text.encode("utf-8"), fmt="csv", school=SCHOOL, report=report, today=today)


def students(*rows: str, header: str = HEADER, end: str = "\n"):
    return csv("students", header, *rows, end=end)


def ctf(*pupils: str):
    return parse_upload(ctf_doc("".join(pupils)).encode(), fmt="ctf", school=SCHOOL, today=TODAY)


def oneroster(files: dict[str, str]):
    return parse_upload(zip_of(files), fmt="oneroster", school=SCHOOL, today=TODAY)


def sds(files: dict[str, str]):
    return parse_upload(zip_of(files), fmt="sds", school=SCHOOL, today=TODAY)


def keys(batch, role=Role.PUPIL):
    return sorted(p.mis_id for p in batch.people if p.role is role)


def message(batch, row, field=None) -> str:
    found = [
        e.message for e in batch.errors if e.row == row and (field is None or e.field == field)
    ]
    assert found, batch.errors
    return found[0]


class TestDuplicateMisIds:
    """Item 1: rows sharing an MIS ID but not an identity are all refused."""

    def test_an_imposter_row_first_does_not_replace_the_pupil_csv(self):
        batch = students(
            "2159,Imposter,Person,2019-01-01",
            "1,Ann,Lee,2015-01-01",
            "2159,Seán,O'Sullivan,2015-06-01",
            header=HEADER,
        )
        assert keys(batch) == ["1"]
        assert batch.rejected_keys == {(Role.PUPIL, "2159")}
        assert where(batch) == [(2, "mis_id"), (4, "mis_id")]
        assert "also given in row 4" in message(batch, 2)
        assert "also given in row 2" in message(batch, 4)
        assert "legal_given_name, legal_family_name, date_of_birth differ" in message(batch, 2)
        assert batch.complete_for == {Role.PUPIL}  # the file is still a full list

    def test_a_valid_imposter_beside_a_refused_real_row_is_refused_too(self):
        batch = students("2159,Imposter,Person,2019-01-01", "2159,Seán,O'Sullivan,2015-02-31")
        assert batch.people == []
        assert batch.rejected_keys == {(Role.PUPIL, "2159")}
        assert "row 3, which was refused" in message(batch, 2, "mis_id")

    def test_a_contact_listed_once_per_pupil_is_one_contact(self):
        header = "mis_id,legal_given_name,legal_family_name,pupil_mis_id"
        batch = csv("contacts", header, "C1,Siobhán,O'Brien,1001", "C1,Siobhán,O'Brien,1002")
        assert batch.errors == []
        assert keys(batch, Role.CONTACT) == ["C1"]
        assert [(c.contact_mis_id, c.pupil_mis_id) for c in batch.contact_links] == [
            ("C1", "1001"),
            ("C1", "1002"),
        ]

    def test_two_people_under_one_contact_id_are_both_refused_with_their_links(self):
        header = "mis_id,legal_given_name,legal_family_name,pupil_mis_id"
        batch = csv(
            "contacts", header, "C1,Siobhán,O'Brien,1001", "C1,Mallory,Imposter,1002", "C2,A,B,1003"
        )
        assert keys(batch, Role.CONTACT) == ["C2"]
        assert [c.contact_mis_id for c in batch.contact_links] == ["C2"]
        assert batch.rejected_keys == {(Role.CONTACT, "C1")}
        assert where(batch) == [(2, "mis_id"), (3, "mis_id")]

    def test_ctf_pupils_of_one_upn_and_their_contacts_are_refused(self):
        contact = "<Contacts><Contact><Surname>Dad</Surname><Forename>Real</Forename></Contact></Contacts>"
        imposter_contact = contact.replace("Real", "Fake")
        batch = ctf(
            ctf_pupil(forename="Imposter", extra=imposter_contact),
            ctf_pupil(extra=contact),
            ctf_pupil(upn=UPN_2, forename="Other"),
        )
        assert keys(batch) == [UPN_2]
        assert batch.contact_links == []
        assert keys(batch, Role.CONTACT) == []
        assert (Role.PUPIL, UPN_1) in batch.rejected_keys
        # the contacts the file lists only for that pupil are listed, not leavers
        assert {r for r, _ in batch.rejected_keys} == {Role.PUPIL, Role.CONTACT}

    def test_oneroster_user_twice_as_two_people(self):
        files = folder_files("oneroster12")
        first = files["users.csv"].splitlines()[1]
        files["users.csv"] += first.replace("Zoë", "Mallory") + "\n"
        batch = oneroster(files)
        assert "stu-1" not in keys(batch)
        assert (Role.PUPIL, "stu-1") in batch.rejected_keys
        assert all(link.pupil_mis_id != "stu-1" for link in batch.contact_links)
        assert all(m.person_mis_id != "stu-1" for m in batch.memberships)

    def test_sds_user_twice_as_two_people(self):
        files = folder_files("sds")
        files["users.csv"] += "s-1,x,Mallory,Imposter,,,,,\n"
        batch = sds(files)
        assert "s-1" not in keys(batch)
        assert (Role.PUPIL, "s-1") in batch.rejected_keys
        assert [e.source for e in batch.errors if e.field == "sourcedId"] == ["users.csv"] * 2

    def test_sds_contact_twice_as_two_people(self):
        files = folder_files("sds")
        files["users.csv"] += "g-1,x,Mallory,Imposter,,,,,\n"
        batch = sds(files)
        assert keys(batch, Role.CONTACT) == []
        assert batch.contact_links == []
        assert (Role.CONTACT, "g-1") in batch.rejected_keys


class TestUnreadableOptionalValues:
    """Item 2: an unreadable optional value is an error and unknown, never None."""

    @pytest.mark.parametrize(
        ("column", "value", "field"),
        [
            ("start_date", "03-02-2015", "start_date"),
            ("gender", "Q", "gender"),
            ("email", "not an email", "email"),
            ("leaving_date", "2015-02-03T25:99", "leaving_date"),
        ],
    )
    def test_csv(self, column, value, field):
        batch = students(f"1,Ann,Lee,2015-01-01,{value}", header=f"{HEADER},{column}")
        assert where(batch) == [(2, column)]
        assert keys(batch) == ["1"]
        record = batch.people[0]
        assert getattr(record, field) is None
        assert field in record.unknown_fields
        assert batch.rejected_keys == set()

    def test_a_missing_optional_column_is_unknown_too(self):
        batch = students("1,Ann,Lee,2015-01-01", header=HEADER)
        assert {"upn", "gender", "start_date", "registration_group"} <= batch.people[
            0
        ].unknown_fields

    def test_a_blank_optional_cell_is_blank_not_unknown(self):
        batch = students("1,Ann,Lee,2015-01-01,", header=f"{HEADER},upn")
        assert "upn" not in batch.people[0].unknown_fields

    def test_ctf_gender_and_entry_date(self):
        history = (
            "<SchoolHistory><School><URN>123456</URN><EntryDate>03-02-2015</EntryDate>"
            "</School></SchoolHistory>"
        )
        batch = ctf(ctf_pupil(sex="Q", extra=history))
        assert sorted(where(batch)) == [(1, "EntryDate"), (1, "Sex")]
        assert batch.people[0].unknown_fields == {"gender", "start_date"}

    def test_oneroster_sex(self):
        files = folder_files("oneroster12")
        files["demographics.csv"] = files["demographics.csv"].replace("female", "Q", 1)
        batch = oneroster(files)
        pupil = next(p for p in batch.people if p.mis_id == "stu-1")
        assert pupil.gender is None and "gender" in pupil.unknown_fields

    def test_sds_email(self):
        files = folder_files("sds")
        files["users.csv"] = files["users.csv"].replace("zoe@hill.example.org", "zoe at hill")
        batch = sds(files)
        assert ("users.csv", 2, "email") in where_in(batch)
        pupil = next(p for p in batch.people if p.mis_id == "s-1")
        assert pupil.email is None and "email" in pupil.unknown_fields

    def test_an_unreadable_mandatory_value_refuses_the_row(self):
        batch = students("1,Ann,Lee,03-02-2015")
        assert batch.people == []
        assert batch.rejected_keys == {(Role.PUPIL, "1")}


class TestConflictingRoles:
    """Item 1's family: a OneRoster user who is a pupil here and also a contact or staff
    is two people mixed up (a copied roles row made a pupil's name a contact account)."""

    def test_a_pupil_who_is_also_a_contact_is_refused_in_every_role(self):
        files = folder_files("oneroster12")
        files["roles.csv"] += (
            "rol-x,active,2025-03-01T10:00:00.000Z,stu-1,primary,parent,,,org-hill,\n"
        )
        batch = oneroster(files)
        assert "stu-1" not in [p.mis_id for p in batch.people]
        assert {(Role.PUPIL, "stu-1"), (Role.CONTACT, "stu-1")} <= batch.rejected_keys
        (error,) = [e for e in batch.errors if "stu-1 is given the roles" in e.message]
        assert error.source == "users.csv" and error.field == "sourcedId"
        assert "a pupil cannot also be staff or a contact" in error.message

    def test_staff_who_are_also_parents_are_kept(self):
        files = folder_files("oneroster12")
        files["roles.csv"] += (
            "rol-x,active,2025-03-01T10:00:00.000Z,tea-1,primary,parent,,,org-hill,\n"
        )
        batch = oneroster(files)
        assert (Role.STAFF, "tea-1") in {p.key for p in batch.people}
        assert not [e for e in batch.errors if "is given the roles" in e.message]


class TestDamagedBundleCells:
    """A damaged cell (thousands of characters, a control character) in a user's
    demographics or users row refuses the user before any value is read: a damaged
    sex is not merely an unknown sex, and the row's other values are not trusted."""

    def test_a_damaged_sex_refuses_the_user(self):
        files = folder_files("oneroster12")
        lines = files["demographics.csv"].splitlines()
        header = lines[0].split(",")
        sex = header.index("sex")
        cells = lines[1].split(",")
        user = cells[0]
        cells[sex] = "female" + "X" * 5000
        lines[1] = ",".join(cells)
        files["demographics.csv"] = "\n".join(lines) + "\n"
        batch = oneroster(files)
        assert user not in [p.mis_id for p in batch.people]
        assert any(key[1] == user for key in batch.rejected_keys)
        (error,) = [e for e in batch.errors if e.source == "demographics.csv"]
        assert (error.row, error.field) == (2, "sex")
        assert "the user was skipped" in error.message

    def test_a_damaged_ctf_sex_refuses_the_pupil(self):
        batch = ctf(ctf_pupil(sex="F" + "X" * 5000))
        assert batch.people == []
        assert where(batch) == [(1, "Sex")]
        assert batch.rejected_keys == {(Role.PUPIL, UPN_1)}

    def test_an_ordinary_bad_ctf_sex_is_only_unknown(self):
        batch = ctf(ctf_pupil(sex="Q"))
        assert [p.mis_id for p in batch.people] == [UPN_1]
        assert "gender" in batch.people[0].unknown_fields

    def test_an_ordinary_bad_sex_is_only_unknown(self):
        files = folder_files("oneroster12")
        lines = files["demographics.csv"].splitlines()
        sex = lines[0].split(",").index("sex")
        cells = lines[1].split(",")
        cells[sex] = "unknownish"
        lines[1] = ",".join(cells)
        files["demographics.csv"] = "\n".join(lines) + "\n"
        batch = oneroster(files)
        (person,) = [p for p in batch.people if p.mis_id == cells[0]]
        assert "gender" in person.unknown_fields


class TestRowsCutShort:
    """Item 3: short rows are refused; a file that ends mid-row claims no leavers."""

    def test_a_short_row_in_the_middle_is_refused_and_listed(self):
        batch = students("1,Ann,Lee", "2,Bob,Lee,2015-01-02")
        assert keys(batch) == ["2"]
        assert where(batch) == [(2, None)]
        assert "cut short" in batch.errors[0].message
        assert batch.rejected_keys == {(Role.PUPIL, "1")}
        assert batch.complete_for == {Role.PUPIL}

    def test_a_file_ending_mid_row_claims_no_leavers(self):
        batch = students("1,Ann,Lee,2015-01-01", "2,Bob,Le", end="")
        assert keys(batch) == ["1"]
        assert batch.errors[0].message == (
            "the file ends mid-row at line 3: it looks cut short, so nobody is treated as "
            "having left; the row was skipped"
        )
        assert batch.errors[0].row == 3
        assert not batch.fatal
        assert batch.complete_for == frozenset()
        assert (Role.PUPIL, "2") in batch.rejected_keys

    def test_a_short_last_row_with_its_line_end_is_only_short(self):
        batch = students("1,Ann,Lee,2015-01-01", "2,Bob,Le")
        assert batch.complete_for == {Role.PUPIL}
        assert "ends mid-row" not in batch.errors[0].message

    def test_a_file_cut_inside_a_quoted_last_value_claims_no_leavers(self):
        """Cut inside a quoted value, the last row still has every column: the open
        quote is what says it was cut off (measured: one pupil after it unallocated)."""
        batch = students(
            "1,Ann,Lee,2015-01-01,1 High Street",
            '2,Bob,Lee,2015-01-02,"10 Bluebell Pl',
            header=HEADER + ",address",
            end="",
        )
        assert keys(batch) == ["1"]
        assert "ends mid-row at line 3" in batch.errors[0].message
        assert batch.complete_for == frozenset()
        assert (Role.PUPIL, "2") in batch.rejected_keys

    def test_a_quoted_last_value_without_a_line_end_is_fine(self):
        batch = students('1,Ann,Lee,"2015-01-01"', end="")
        assert batch.errors == []
        assert batch.complete_for == {Role.PUPIL}

    def test_a_complete_last_row_without_a_line_end_is_fine(self):
        batch = students("1,Ann,Lee,2015-01-01", end="")
        assert batch.errors == []
        assert batch.complete_for == {Role.PUPIL}

    def test_oneroster_users_cut_short(self):
        files = folder_files("oneroster12")
        files["users.csv"] = files["users.csv"].rstrip("\n")[:-12]
        batch = oneroster(files)
        assert batch.complete_for == frozenset()
        assert any("ends mid-row" in e.message and e.source == "users.csv" for e in batch.errors)

    def test_oneroster_enrollments_cut_short_claims_no_groups(self):
        files = folder_files("oneroster12")
        files["enrollments.csv"] = files["enrollments.csv"].rstrip("\n")[:-8]
        batch = oneroster(files)
        assert GROUPS not in batch.reports
        assert batch.complete_for == {Role.PUPIL, Role.STAFF, Role.CONTACT}

    def test_sds_users_cut_short(self):
        files = folder_files("sds")
        files["users.csv"] = files["users.csv"].rstrip("\n")[:-10]
        batch = sds(files)
        assert batch.complete_for == frozenset()

    def test_sds_relationships_cut_short_claims_no_contacts(self):
        files = folder_files("sds")
        files["relationships.csv"] = files["relationships.csv"].rstrip("\n")[:-12]
        batch = sds(files)
        assert keys(batch, Role.CONTACT) == []
        assert batch.contact_links == []
        assert CONTACTS not in batch.reports
        assert Role.CONTACT not in batch.complete_for

    def test_ctf_cut_mid_document(self):
        doc = ctf_doc(ctf_pupil()).encode()
        batch = parse_upload(doc[: len(doc) // 2], fmt="ctf", school=SCHOOL)
        assert_refused(batch, "The file is cut short or damaged")


class TestMissingBundleFiles:
    """Item 4: a file a bundle lacks claims nothing about what it would carry."""

    def test_oneroster_demographics_absent_makes_them_unknown(self):
        files = folder_files("oneroster12")
        del files["demographics.csv"]
        files["manifest.csv"] = files["manifest.csv"].replace(
            "file.demographics,bulk", "file.demographics,absent"
        )
        batch = oneroster(files)
        staff = next(p for p in batch.people if p.role is Role.STAFF)
        assert staff.date_of_birth is None and staff.gender is None
        assert {"date_of_birth", "gender"} <= staff.unknown_fields

    def test_oneroster_without_contact_relations_claims_no_links(self):
        files = folder_files("oneroster12")
        lines = [line.split(",") for line in files["users.csv"].splitlines()]
        column = [c.casefold() for c in lines[0]].index("agentsourcedids")
        files["users.csv"] = (
            "\n".join(",".join(c for i, c in enumerate(cells) if i != column) for cells in lines)
            + "\n"
        )
        batch = oneroster(files)
        assert batch.contact_links == []
        assert CONTACTS not in batch.reports
        assert Role.CONTACT not in batch.complete_for
        assert keys(batch, Role.CONTACT) == []

    def test_oneroster_without_enrollments_claims_no_groups(self):
        files = folder_files("oneroster12")
        del files["enrollments.csv"]
        files["manifest.csv"] = files["manifest.csv"].replace(
            "file.enrollments,bulk", "file.enrollments,absent"
        )
        batch = oneroster(files)
        assert GROUPS not in batch.reports
        pupil = next(p for p in batch.people if p.role is Role.PUPIL)
        assert "registration_group" in pupil.unknown_fields

    def test_sds_without_demographics_or_enrollments(self):
        files = folder_files("sds")
        del files["demographics.csv"], files["enrollments.csv"]
        batch = sds(files)
        assert GROUPS not in batch.reports
        staff = next(p for p in batch.people if p.role is Role.STAFF)
        assert {"date_of_birth", "gender"} <= staff.unknown_fields


class TestDatesAndText:
    """Item 5: dates of birth that cannot be true, and control characters."""

    @pytest.mark.parametrize(
        ("value", "phrase"),
        [
            ("2031-01-01", "is in the future"),
            ("2026-12-01", "is in the future"),
            ("1899-12-31", "1900"),
            ("9999-12-31", "not a plausible date"),
            (FULL_WIDTH_DATE, "which is not an ordinary 0-9 digit"),
            ("2015-02-03T25:99", "is not a date written as"),
            ("2015-02-03T23:60", "is not a date written as"),
        ],
    )
    def test_csv_date_of_birth(self, value, phrase):
        batch = students(f"1,Ann,Lee,{value}")
        assert batch.people == []
        assert where(batch) == [(2, "date_of_birth")]
        assert phrase in batch.errors[0].message
        assert batch.rejected_keys == {(Role.PUPIL, "1")}

    def test_an_mis_id_in_full_width_digits_is_refused(self):
        """5038 in full-width digits is another ID than 5038 (Python's int() reads both
        alike): a damaged file, refused with row and field, never a re-key of 5038."""
        batch = students("\uff15\uff10\uff13\uff18,Ann,Lee,2015-01-01", "2,Bob,Lee,2015-01-02")
        assert keys(batch) == ["2"]
        assert where(batch) == [(2, "mis_id")]
        assert "not an ordinary 0-9 digit" in batch.errors[0].message

    def test_today_is_the_callers(self):
        assert csv("students", HEADER, "1,Ann,Lee,2026-12-01", today=date(2027, 1, 1)).people
        assert not csv("students", HEADER, "1,Ann,Lee,2026-12-01", today=date(2026, 1, 1)).people

    def test_a_plain_valid_date_with_a_time_is_still_read(self):
        batch = students("1,Ann,Lee,2015-02-03T00:00:00")
        assert batch.people[0].date_of_birth == date(2015, 2, 3)

    def test_staff_date_of_birth_in_the_future_is_unknown(self):
        batch = csv("staff", HEADER, "S1,Ravi,Patel,2090-01-01")
        assert batch.people[0].date_of_birth is None
        assert batch.people[0].unknown_fields >= {"date_of_birth"}

    def test_ctf_dob(self):
        batch = ctf(ctf_pupil(dob=FULL_WIDTH_DATE), ctf_pupil(upn=UPN_2, dob="2031-01-01"))
        assert batch.people == []
        assert where(batch) == [(1, "DOB"), (2, "DOB")]

    def test_oneroster_birthdate_in_the_future(self):
        files = folder_files("oneroster12")
        files["demographics.csv"] = files["demographics.csv"].replace("2015-02-03", "2031-02-03")
        batch = oneroster(files)
        assert "stu-1" not in keys(batch)
        assert (Role.PUPIL, "stu-1") in batch.rejected_keys

    # (NUL refuses the whole file: it is the mark of a UTF-16 or binary file)
    @pytest.mark.parametrize("control", ["\x07", "\x1b", "\x1f", "\x7f", "\x85", "\x9b"])
    def test_csv_control_characters_in_a_name(self, control):
        batch = students(f"1,An{control}n,Lee,2015-01-01")
        assert batch.people == []
        assert where(batch) == [(2, "legal_given_name")]
        assert "control character" in batch.errors[0].message

    def test_a_name_of_only_white_space_is_empty(self):
        batch = students("1,\u00a0,Lee,2015-01-01")
        assert batch.people == []
        assert where(batch) == [(2, "legal_given_name")]
        assert "is empty" in batch.errors[0].message

    def test_csv_control_character_in_an_optional_value_refuses_the_row(self):
        """A control character is damage, not a typo: no value of the row is trusted
        (the person is listed, keeps what they had, and is no leaver)."""
        batch = students("1,Ann,Lee,2015-01-01,Mid\x01dle", header=f"{HEADER},middle_names")
        assert batch.people == []
        assert where(batch) == [(2, "middle_names")]
        assert batch.rejected_keys == {(Role.PUPIL, "1")}

    def test_ctf_control_character(self):
        batch = ctf(ctf_pupil(forename="Zo&#x9b;ë"))
        assert where(batch) == [(1, "Forename")]
        assert batch.people == []

    def test_sds_control_character(self):
        files = folder_files("sds")
        files["users.csv"] = files["users.csv"].replace("Tom", "T\x07om")
        batch = sds(files)
        assert "s-2" not in keys(batch)
        assert ("users.csv", 3, "givenName") in where_in(batch)


class TestLengths:
    """Item 6: values longer than rollsync stores are row errors, before any database."""

    def test_the_table_matches_the_models(self):
        assert limits.MAX_LENGTHS["legal_given_name"] == 100
        assert limits.MAX_LENGTHS["mis_id"] == 64
        assert limits.MAX_LENGTHS["registration_group"] == 30

    def test_a_long_name_refuses_the_row(self):
        batch = students("1," + "A" * 10_000 + ",Lee,2015-01-01")
        assert batch.people == []
        assert where(batch) == [(2, "legal_given_name")]
        assert "10,000 characters long; rollsync stores at most 100" in batch.errors[0].message
        assert batch.rejected_keys == {(Role.PUPIL, "1")}

    def test_a_long_mis_id_refuses_the_row(self):
        batch = students("9" * 10_000 + ",Ann,Lee,2015-01-01")
        assert batch.people == []
        assert where(batch) == [(2, "mis_id")]
        assert batch.rejected_keys == set()  # no account can have such an ID

    def test_a_long_optional_value_refuses_the_row(self):
        batch = students("1,Ann,Lee,2015-01-01," + "R" * 200, header=f"{HEADER},registration_group")
        assert where(batch) == [(2, "registration_group")]
        assert batch.people == []
        assert batch.rejected_keys == {(Role.PUPIL, "1")}

    def test_a_wrongly_written_optional_value_is_only_unknown(self):
        """A typo (a start date written the other way round) is not damage: the row goes
        on and only that value is unknown (the stored one is kept)."""
        batch = students("1,Ann,Lee,2015-01-01,03-02-2015", header=f"{HEADER},start_date")
        assert where(batch) == [(2, "start_date")]
        assert [p.mis_id for p in batch.people] == ["1"]
        assert "start_date" in batch.people[0].unknown_fields

    def test_exactly_the_limit_is_fine(self):
        batch = students("1," + "A" * 100 + ",Lee,2015-01-01")
        assert batch.errors == []

    def test_a_long_group_name(self):
        header = "group_mis_id,group_name,group_kind,person_role,person_mis_id,membership_role"
        batch = csv("groups", header, "G1," + "N" * 201 + ",class,pupil,1,student")
        assert batch.groups == [] and batch.memberships == []
        assert where(batch) == [(2, "group_name")]

    def test_ctf_long_forename_and_long_contact_names(self):
        long = "A" * 150
        contact = f"<Contacts><Contact><Surname>{long}</Surname><Forename>{long}</Forename></Contact></Contacts>"
        batch = ctf(ctf_pupil(forename=long), ctf_pupil(upn=UPN_2, extra=contact))
        assert keys(batch) == [UPN_2]
        assert (1, "Forename") in where(batch)
        # the contact's derived ID stays within 64 characters; its names are too long
        assert all(len(mis_id) <= 64 for _, mis_id in batch.rejected_keys)
        assert (2, "Surname") in where(batch)

    def test_oneroster_long_given_name(self):
        files = folder_files("oneroster12")
        files["users.csv"] = files["users.csv"].replace("Zoë", "Z" * 101, 1)
        batch = oneroster(files)
        assert "stu-1" not in keys(batch)
        assert ("users.csv", 2, "givenName") in where_in(batch)


class TestLengthsInBundles:
    def test_a_long_class_title_skips_the_class(self):
        files = folder_files("oneroster11")
        files["classes.csv"] = files["classes.csv"].replace("Robins", "R" * 201)
        batch = oneroster(files)
        assert [g.mis_id for g in batch.groups] == ["cls-maths"]
        assert any(
            e.source == "classes.csv" and "201 characters" in e.message for e in batch.errors
        )

    def test_a_long_sds_relationship_is_left_out(self):
        files = folder_files("sds")
        files["relationships.csv"] = files["relationships.csv"].replace(
            "s-1,g-1,parent", "s-1,g-1," + "p" * 41
        )
        batch = sds(files)
        assert {(c.pupil_mis_id, c.relationship) for c in batch.contact_links} == {
            ("s-1", None),
            ("s-2", "Parent"),
        }
        assert ("relationships.csv", 2, "relationshipRole") in where_in(batch)


def _zip_with_members(members: dict[str, bytes]) -> bytes:
    return zip_members(members, compression=zipfile.ZIP_DEFLATED)


class TestZips:
    """Item 7: damaged zips fail cleanly; sizes are counted, not believed."""

    def _bundle(self) -> bytes:
        return zip_of(folder_files("oneroster12"))

    def test_bad_crc(self):
        payload = bytearray(self._bundle())
        local = payload.find(b"PK\x03\x04")
        payload[local + 14 : local + 18] = b"\x00\x00\x00\x00"  # the first member's CRC
        central = payload.find(b"PK\x01\x02")
        payload[central + 16 : central + 20] = b"\x00\x00\x00\x00"
        batch = parse_upload(bytes(payload), fmt="oneroster", school=SCHOOL)
        assert_refused(batch, "The zip is damaged")

    @pytest.mark.parametrize("cut", [0.3, 0.6, 0.97])
    def test_truncated(self, cut):
        payload = self._bundle()
        batch = parse_upload(payload[: int(len(payload) * cut)], fmt="sds", school=SCHOOL)
        assert batch.fatal
        assert batch.people == []
        assert batch.errors[0].message.startswith("The zip is damaged")

    def test_corrupt_deflate_stream(self):
        payload = bytearray(self._bundle())
        local = payload.find(b"PK\x03\x04")
        start = local + 30 + int.from_bytes(payload[local + 26 : local + 28], "little")
        payload[start : start + 8] = b"\xff" * 8
        batch = parse_upload(bytes(payload), fmt="oneroster", school=SCHOOL)
        assert_refused(batch, "The zip is damaged")

    def test_an_honest_zip_bomb_is_refused_unread(self, monkeypatch):
        monkeypatch.setattr(bundles, "MAX_UNZIPPED_BYTES", 1024 * 1024)
        payload = _zip_with_members({"manifest.csv": b"x", "users.csv": b"0" * (4 * 1024 * 1024)})
        assert_refused(parse_upload(payload, fmt="oneroster", school=SCHOOL), "zip bomb")
        assert bundles.LAST_READ.bytes_unpacked == 0

    def test_a_zip_whose_header_lies_is_stopped_by_what_is_read(self, monkeypatch):
        monkeypatch.setattr(bundles, "MAX_UNZIPPED_BYTES", 1024 * 1024)
        payload = bytearray(
            _zip_with_members({"manifest.csv": b"x", "users.csv": b"0" * (8 * 1024 * 1024)})
        )
        central = payload.find(b"PK\x01\x02")
        while central != -1:  # claim every member unpacks to 10 bytes
            payload[central + 24 : central + 28] = (10).to_bytes(4, "little")
            central = payload.find(b"PK\x01\x02", central + 4)
        batch = parse_upload(bytes(payload), fmt="oneroster", school=SCHOOL)
        assert batch.fatal and batch.people == []
        # never more than the limit and one chunk was unpacked
        assert bundles.LAST_READ.bytes_unpacked <= 1024 * 1024 + bundles.CHUNK_BYTES


class TestEncoding:
    """Item 8: a UTF-8 byte order mark before a Windows-1252 body."""

    def test_csv(self):
        payload = b"\xef\xbb\xbf" + (HEADER + "\n1,Siobh\xe1n,Lee,2015-01-01\n").encode("cp1252")
        batch = parse_upload(payload, fmt="csv", school=SCHOOL, report="students")
        error = assert_refused(batch, "starts with a UTF-8 byte order mark but is not UTF-8")
        assert "byte 0xE1 on line 2" in error.message

    def test_ctf(self):
        doc = ctf_doc(ctf_pupil(forename="Siobhán")).replace(' encoding="UTF-8"', "")
        payload = b"\xef\xbb\xbf" + doc.encode("cp1252")
        batch = parse_upload(payload, fmt="ctf", school=SCHOOL)
        assert_refused(batch, "starts with a UTF-8 byte order mark but is not UTF-8")

    def test_bundle_member(self):
        files: dict[str, str | bytes] = dict(folder_files("sds"))
        files["users.csv"] = b"\xef\xbb\xbf" + str(files["users.csv"]).encode("cp1252")
        batch = parse_upload(zip_of(files), fmt="sds", school=SCHOOL)
        assert_refused(batch, "users.csv starts with a UTF-8 byte order mark")
