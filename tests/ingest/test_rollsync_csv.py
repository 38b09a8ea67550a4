"""The rollsync CSV format: one CSV per report."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    Gender,
    GroupKind,
    GroupRecord,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
)
from rollsync.domain.reports import CATALOGUE
from rollsync.ingest import parse_upload
from rollsync.ingest import values as v

from .helpers import BAD_CHECK_UPN, SCHOOL, TEMP_UPN, UPN_1, assert_refused, fixture_bytes, where

STUDENT_HEADER = "mis_id,legal_given_name,legal_family_name,date_of_birth"
CURLY_OBRIEN = "O\N{RIGHT SINGLE QUOTATION MARK}Brien"  # a typographic apostrophe, kept as sent


def parse(payload: bytes | str, report: str):
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return parse_upload(data, fmt="csv", school=SCHOOL, report=report)


def absent(report: str, fixture: str) -> frozenset[str]:
    """The optional person fields a fixture has no column for: unknown, not blank."""
    header = fixture_bytes("csv", fixture).decode("utf-8").splitlines()[0].split(",")
    person = {f.name for f in dataclasses.fields(PersonRecord)}
    return frozenset(
        f.name
        for f in CATALOGUE[report].fields
        if not f.mandatory and f.name not in header and f.name in person
    )


def students(*rows: str, header: str = STUDENT_HEADER):
    return parse("\n".join((header, *rows)) + "\n", "students")


class TestStudents:
    @pytest.fixture
    def batch(self):
        return parse(fixture_bytes("csv", "students.csv"), "students")

    def test_records(self, batch):
        assert batch.errors == []
        assert batch.people == [
            PersonRecord(
                role=Role.PUPIL,
                mis_id="1001",
                legal_given_name="Zoë",
                legal_family_name="O'Brien",
                preferred_given_name="Zoe",
                middle_names="Mary Anne",
                date_of_birth=date(2015, 2, 3),
                gender=Gender.FEMALE,
                upn=UPN_1,
                start_date=date(2019, 9, 4),
                year_group="R",
                registration_group="Robins",
                postcode="HL1 2AB",
                row=2,
                unknown_fields=absent("students", "students.csv"),
            ),
            PersonRecord(
                role=Role.PUPIL,
                mis_id="1002",
                legal_given_name="Tom",
                legal_family_name="Smith-Jones",
                date_of_birth=date(2015, 7, 11),
                gender=Gender.MALE,
                start_date=date(2019, 9, 4),
                year_group="1",
                registration_group="Robins",
                row=3,
                unknown_fields=absent("students", "students.csv"),
            ),
            PersonRecord(
                role=Role.PUPIL,
                mis_id="1003",
                legal_given_name="Siobhán",
                legal_family_name="Ní Bhriain",
                date_of_birth=date(2014, 11, 30),
                gender=Gender.FEMALE,
                upn=TEMP_UPN,
                year_group="6",
                registration_group="6H",
                row=4,
                unknown_fields=absent("students", "students.csv"),
            ),
        ]

    def test_batch(self, batch):
        assert batch.source_format == "csv"
        assert batch.reports == {"students"}
        assert batch.complete_for == {Role.PUPIL}
        assert batch.rows_read == 3
        assert batch.declared_urn is None

    def test_header_only_is_still_a_full_list(self):
        # An empty current export reaches the planner as a full list of pupils: its
        # guard holds the run for a person to look at, instead of nothing happening.
        batch = students()
        assert batch.people == []
        assert batch.errors == []
        assert batch.complete_for == {Role.PUPIL}
        assert batch.reports == {"students"}


class TestOtherReports:
    def test_staff(self):
        batch = parse(fixture_bytes("csv", "staff.csv"), "staff")
        assert batch.errors == []
        assert batch.complete_for == {Role.STAFF}
        assert batch.people == [
            PersonRecord(
                role=Role.STAFF,
                mis_id="S01",
                legal_given_name="Ravi",
                legal_family_name="Patel",
                date_of_birth=date(1980, 5, 6),
                gender=Gender.MALE,
                title="Mr",
                staff_code="RPA",
                start_date=date(2010, 9, 1),
                email="r.patel@example.org",
                phone="01234 111222",
                row=2,
                unknown_fields=absent("staff", "staff.csv"),
            ),
            PersonRecord(
                role=Role.STAFF,
                mis_id="S02",
                legal_given_name="Jo",
                legal_family_name="Bloggs",
                date_of_birth=date(1975, 9, 10),
                gender=Gender.FEMALE,
                title="Ms",
                staff_code="JBL",
                row=3,
                unknown_fields=absent("staff", "staff.csv"),
            ),
        ]

    @pytest.mark.parametrize(
        ("report", "role"), [("students_future", Role.PUPIL), ("staff_future", Role.STAFF)]
    )
    def test_future_reports_are_future_and_complete_for_nothing(self, report, role):
        batch = parse(fixture_bytes("csv", "students_future.csv"), report)
        assert batch.people == [
            PersonRecord(
                role=role,
                mis_id="2001",
                legal_given_name="Amara",
                legal_family_name="Okafor",
                date_of_birth=date(2021, 6, 15),
                start_date=date(2025, 9, 3),
                year_group="R" if role is Role.PUPIL else None,
                future=True,
                row=2,
                unknown_fields=absent(report, "students_future.csv"),
            )
        ]
        assert batch.complete_for == frozenset()
        assert batch.reports == {report}

    def test_contacts_one_person_per_contact_one_link_per_row(self):
        batch = parse(fixture_bytes("csv", "contacts.csv"), "contacts")
        assert batch.errors == []
        assert batch.people == [
            PersonRecord(
                role=Role.CONTACT,
                mis_id="C1",
                legal_given_name="Siobhán",
                legal_family_name="O'Brien",
                title="Mrs",
                email="siobhan@example.org",
                phone="07700 900001",
                row=2,
                unknown_fields=absent("contacts", "contacts.csv"),
            ),
            PersonRecord(
                role=Role.CONTACT,
                mis_id="C2",
                legal_given_name="Dafydd",
                legal_family_name="Smith-Jones",
                title="Mr",
                row=4,
                unknown_fields=absent("contacts", "contacts.csv"),
            ),
        ]
        assert batch.contact_links == [
            ContactLink(
                "C1", "1001", priority=1, parental_responsibility=True, relationship="Mother", row=2
            ),
            ContactLink(
                "C1", "1002", priority=2, parental_responsibility=True, relationship="Mother", row=3
            ),
            ContactLink(
                "C2", "1002", priority=1, parental_responsibility=True, relationship="Father", row=4
            ),
        ]
        assert batch.complete_for == {Role.CONTACT}

    def test_groups(self):
        batch = parse(fixture_bytes("csv", "groups.csv"), "groups")
        assert batch.errors == []
        assert batch.groups == [
            GroupRecord("G-ROB", "Robins", GroupKind.REGISTRATION, row=2),
            GroupRecord("G-MA1", "Maths Set 1", GroupKind.CLASS, row=5),
        ]
        assert batch.memberships == [
            MembershipRecord("G-ROB", Role.PUPIL, "1001", MembershipRole.STUDENT, row=2),
            MembershipRecord("G-ROB", Role.PUPIL, "1002", MembershipRole.STUDENT, row=3),
            MembershipRecord("G-ROB", Role.STAFF, "S01", MembershipRole.TEACHER, row=4),
            MembershipRecord("G-MA1", Role.PUPIL, "1001", MembershipRole.STUDENT, row=5),
        ]
        assert batch.people == []
        assert batch.complete_for == frozenset()

    def test_attendance(self):
        batch = parse(fixture_bytes("csv", "attendance.csv"), "attendance")
        assert batch.errors == []
        assert batch.attendance == [
            AttendanceMark("1001", date(2025, 3, 3), "AM", "/", row=2),
            AttendanceMark("1001", date(2025, 3, 3), "PM", "\\", row=3),
            AttendanceMark("1002", date(2025, 3, 3), "AM", "L", row=4),
            AttendanceMark("1002", date(2025, 3, 3), "PM", "C1", row=5),
        ]
        assert batch.reports == {"attendance"}


class TestCompleteness:
    """A current people report is one full list of its role, even with no rows."""

    HEADERS = {
        "students": STUDENT_HEADER,
        "staff": "mis_id,legal_given_name,legal_family_name",
        "contacts": "mis_id,legal_given_name,legal_family_name,pupil_mis_id",
        "students_future": STUDENT_HEADER,
        "staff_future": "mis_id,legal_given_name,legal_family_name",
        "groups": "group_mis_id,group_name,group_kind,person_role,person_mis_id,membership_role",
        "attendance": "pupil_mis_id,date,session,code",
    }

    @pytest.mark.parametrize(
        ("report", "complete"),
        [
            ("students", {Role.PUPIL}),
            ("staff", {Role.STAFF}),
            ("contacts", {Role.CONTACT}),
            ("students_future", set()),
            ("staff_future", set()),
            ("groups", set()),
            ("attendance", set()),
        ],
    )
    def test_header_only(self, report, complete):
        assert set(self.HEADERS) == set(CATALOGUE)
        batch = parse(self.HEADERS[report] + "\n", report)
        assert not batch.fatal
        assert batch.people == []
        assert batch.complete_for == frozenset(complete)
        assert batch.reports == {report}

    def test_every_row_refused(self):
        batch = students("1,Ann,Lee,", "2,Bob,,2015-01-01")
        assert where(batch) == [(2, "date_of_birth"), (3, "legal_family_name")]
        assert batch.people == []
        assert batch.complete_for == {Role.PUPIL}
        assert batch.rejected_keys == {(Role.PUPIL, "1"), (Role.PUPIL, "2")}


class TestRejectedKeys:
    """A refused person whose MIS ID can be read is in `rejected_keys`: a full list
    still lists them, so they must not look like a leaver."""

    def test_bad_mandatory_value_in_a_full_list(self):
        batch = students("1,Ann,Lee,2015-01-01", "2,Bob,Lee,31/02/2015", "3,Cy,Lee,2015-01-03")
        assert where(batch) == [(3, "date_of_birth")]
        assert batch.rejected_keys == {(Role.PUPIL, "2")}
        assert "2" not in {p.mis_id for p in batch.people}
        assert batch.complete_for == {Role.PUPIL}

    def test_no_readable_mis_id_adds_nothing(self):
        batch = students("1,Ann,Lee,2015-01-01", " ,Bob,Lee,31/02/2015")
        assert where(batch) == [(3, "mis_id"), (3, "date_of_birth")]
        assert batch.rejected_keys == set()
        assert [p.mis_id for p in batch.people] == ["1"]

    def test_a_row_with_too_many_values_still_names_its_person(self):
        batch = students("1,Ann,Lee,2015-01-01", "2,Bob,Lee,Jr,2015-01-02")
        assert where(batch) == [(3, None)]
        assert batch.rejected_keys == {(Role.PUPIL, "2")}

    def test_staff(self):
        batch = parse(
            "mis_id,legal_given_name,legal_family_name\nS1,Ravi,Patel\nS2,,Bloggs\n", "staff"
        )
        assert where(batch) == [(3, "legal_given_name")]
        assert batch.rejected_keys == {(Role.STAFF, "S2")}
        assert [p.mis_id for p in batch.people] == ["S1"]

    def test_future_report(self):
        batch = parse(STUDENT_HEADER + "\n2001,Amara,Okafor,\n", "students_future")
        assert where(batch) == [(2, "date_of_birth")]
        assert batch.rejected_keys == {(Role.PUPIL, "2001")}

    def test_contacts(self):
        header = "mis_id,legal_given_name,legal_family_name,pupil_mis_id"
        batch = parse(
            "\n".join(
                [
                    header,
                    "C1,Sam,Lee,1001",
                    "C1,Sam,Lee,",  # C1's second link refused: C1 is still kept
                    "C2,,Lee,1002",  # C2 refused
                    ",Kim,Lee,1003",  # no ID
                    "C3,Al,Lee,1001,oops",  # too many values
                ]
            ),
            "contacts",
        )
        assert where(batch) == [
            (3, "pupil_mis_id"),
            (4, "legal_given_name"),
            (5, "mis_id"),
            (6, None),
        ]
        assert [p.mis_id for p in batch.people] == ["C1"]
        assert batch.rejected_keys == {(Role.CONTACT, "C2"), (Role.CONTACT, "C3")}

    def test_groups_and_attendance_reject_nobody(self):
        groups = parse(
            "group_mis_id,group_name,group_kind,person_role,person_mis_id,membership_role\n"
            "G1,Robins,form,pupil,1,student\n",
            "groups",
        )
        attendance = parse("pupil_mis_id,date,session,code\n1,2025-03-03,AM,?,x\n", "attendance")
        assert where(groups) == [(2, "group_kind")]
        assert where(attendance) == [(2, None)]
        assert groups.rejected_keys == attendance.rejected_keys == set()

    def test_a_good_file_rejects_nobody(self):
        assert parse(fixture_bytes("csv", "students.csv"), "students").rejected_keys == set()


class TestStaffDateOfBirth:
    """The catalogue makes a member of staff's date of birth optional."""

    def test_no_date_of_birth_column(self):
        batch = parse("mis_id,legal_given_name,legal_family_name\nS1,Ravi,Patel\n", "staff")
        assert batch.errors == []
        assert [(p.mis_id, p.date_of_birth) for p in batch.people] == [("S1", None)]

    def test_empty_date_of_birth(self):
        batch = parse(
            "mis_id,legal_given_name,legal_family_name,date_of_birth\n"
            "S1,Ravi,Patel,\nS2,Jo,Bloggs,1975-09-10\n",
            "staff_future",
        )
        assert batch.errors == []
        assert [(p.mis_id, p.date_of_birth) for p in batch.people] == [
            ("S1", None),
            ("S2", date(1975, 9, 10)),
        ]

    def test_bad_date_of_birth_is_dropped_not_the_person(self):
        batch = parse(
            "mis_id,legal_given_name,legal_family_name,date_of_birth\nS1,Ravi,Patel,31/02/1980\n",
            "staff",
        )
        assert where(batch) == [(2, "date_of_birth")]
        assert batch.errors[0].message == (
            f"date_of_birth '31/02/1980' is not a real date; {v.KEPT_WITHOUT}"
        )
        assert [(p.mis_id, p.date_of_birth) for p in batch.people] == [("S1", None)]
        assert "date_of_birth" in batch.people[0].unknown_fields
        assert batch.rejected_keys == set()

    def test_pupils_still_need_one(self):
        batch = parse("mis_id,legal_given_name,legal_family_name\n1,Ann,Lee\n", "students")
        assert_refused(batch, "has no date_of_birth column")


class TestRowErrors:
    def test_impossible_date_skips_the_row(self):
        batch = students("1,Ann,Lee,2015-01-01", "2,Bob,Lee,31/02/2015", "3,Cy,Lee,2015-01-03")
        assert where(batch) == [(3, "date_of_birth")]
        assert batch.errors[0].message == (
            "date_of_birth '31/02/2015' is not a real date; the row was skipped"
        )
        assert [p.mis_id for p in batch.people] == ["1", "3"]

    @pytest.mark.parametrize(
        "value", ["2015/01/02", "1/2/15", "tomorrow", "2015-1-2", "02-01-2015"]
    )
    def test_unreadable_date(self, value):
        batch = students(f"1,Ann,Lee,{value}")
        assert where(batch) == [(2, "date_of_birth")]
        assert "YYYY-MM-DD or DD/MM/YYYY or YYYYMMDD" in batch.errors[0].message
        assert batch.people == []

    @pytest.mark.parametrize(
        "column", ["mis_id", "legal_given_name", "legal_family_name", "date_of_birth"]
    )
    def test_empty_mandatory_value(self, column):
        values = {
            "mis_id": "2",
            "legal_given_name": "Bob",
            "legal_family_name": "Lee",
            "date_of_birth": "2015-01-01",
        }
        values[column] = "  "
        batch = students("1,Ann,Lee,2015-01-01", ",".join(values.values()), "3,Cy,Lee,2015-01-03")
        assert where(batch) == [(3, column)]
        assert "is mandatory in Students (current)" in batch.errors[0].message
        assert [p.mis_id for p in batch.people] == ["1", "3"]
        assert batch.rejected_keys == (set() if column == "mis_id" else {(Role.PUPIL, "2")})

    def test_duplicate_mis_id_of_two_people_refuses_both(self):
        # Was: the first was kept, so an imposter row placed first rewrote the pupil.
        batch = students("1,Ann,Lee,2015-01-01", "2,Bob,Lee,2015-01-02", "1,Ann,Again,2015-01-01")
        assert where(batch) == [(2, "mis_id"), (4, "mis_id")]
        assert batch.errors[0].message == (
            "mis_id '1' is also given in row 4 for a different pupil (legal_family_name "
            "differ): rollsync cannot tell which is the real pupil, so none of these rows "
            "was used and the pupil's account stays as it is"
        )
        assert "also given in row 2" in batch.errors[1].message
        assert [(p.mis_id, p.legal_family_name) for p in batch.people] == [("2", "Lee")]
        assert batch.rejected_keys == {(Role.PUPIL, "1")}

    def test_the_same_pupil_twice_is_one_pupil(self):
        batch = students("1,Ann,Lee,2015-01-01", "1,Ann,Lee,2015-01-01")
        assert where(batch) == [(3, "mis_id")]
        assert batch.errors[0].message == (
            "mis_id '1' is given for the same pupil earlier (row 2): this row repeats it "
            "and was skipped"
        )
        assert [p.mis_id for p in batch.people] == ["1"]
        assert batch.rejected_keys == set()

    def test_bad_upn_is_dropped_but_the_pupil_imported(self):
        header = STUDENT_HEADER + ",upn"
        batch = students(
            f"1,Ann,Lee,2015-01-01,{BAD_CHECK_UPN}", f"2,Bob,Lee,2015-01-02,{UPN_1}", header=header
        )
        assert where(batch) == [(2, "upn")]
        assert batch.errors[0].message.endswith(v.KEPT_WITHOUT)
        assert "upn" in batch.people[0].unknown_fields
        assert [(p.mis_id, p.upn) for p in batch.people] == [("1", None), ("2", UPN_1)]

    def test_lower_case_upn_is_normalised(self):
        batch = students(f"1,Ann,Lee,2015-01-01,{UPN_1.lower()}", header=STUDENT_HEADER + ",upn")
        assert batch.people[0].upn == UPN_1

    def test_bad_optional_values_are_dropped(self):
        header = STUDENT_HEADER + ",gender,start_date,leaving_date"
        batch = students("1,Ann,Lee,2015-01-01,Q,2019-02-30,soon", header=header)
        assert where(batch) == [(2, "gender"), (2, "start_date"), (2, "leaving_date")]
        person = batch.people[0]
        assert (person.gender, person.start_date, person.leaving_date) == (None, None, None)

    def test_extra_values_in_a_row(self):
        batch = students("1,Ann,Lee,2015-01-01", "2,Bob,Lee,Jr,2015-01-02", "3,Cy,Lee,2015-01-03,,")
        assert where(batch) == [(3, None)]
        assert "has 5 values but the header has only 4 columns" in batch.errors[0].message
        assert [p.mis_id for p in batch.people] == ["1", "3"]

    def test_contacts_row_errors(self):
        header = (
            "mis_id,legal_given_name,legal_family_name,pupil_mis_id,"
            "priority,parental_responsibility"
        )
        batch = parse(
            "\n".join(
                [
                    header,
                    "C1,Sam,Lee,1,first,perhaps",  # bad optional values: dropped
                    "C1,Sam,Lee,1,1,yes",  # the same link again
                    "C2,Kim,Lee,,1,no",  # no pupil
                ]
            ),
            "contacts",
        )
        assert where(batch) == [
            (2, "priority"),
            (2, "parental_responsibility"),
            (3, "mis_id"),
            (4, "pupil_mis_id"),
        ]
        assert batch.contact_links == [
            ContactLink("C1", "1", priority=None, parental_responsibility=False, row=2)
        ]
        assert [p.mis_id for p in batch.people] == ["C1"]

    def test_groups_row_errors(self):
        header = "group_mis_id,group_name,group_kind,person_role,person_mis_id,membership_role"
        batch = parse(
            "\n".join(
                [
                    header,
                    "G1,Robins,registration,pupil,1,student",
                    "G1,Robins,registration,pupil,1,student",  # repeated membership
                    "G2,Wrens,form,pupil,2,student",  # unknown kind
                    "G1,Robbins,registration,staff,S1,teacher",  # name differs: first kept
                    "G3,Owls,class,parent,3,student",  # unknown member type
                ]
            ),
            "groups",
        )
        assert where(batch) == [
            (3, "person_mis_id"),
            (4, "group_kind"),
            (5, "group_name"),
            (6, "person_role"),
        ]
        assert batch.groups == [GroupRecord("G1", "Robins", GroupKind.REGISTRATION, row=2)]
        assert [m.person_mis_id for m in batch.memberships] == ["1", "S1"]

    def test_a_value_read_again_reads_and_fails_as_it_did(self):
        # The reader keeps what a value read as (a Groups file repeats its group's
        # values on every membership); a bad value is reported on every row holding it,
        # and a damaged copy of a good value is still refused for its damage.
        header = "group_mis_id,group_name,group_kind,person_role,person_mis_id,membership_role"
        batch = parse(
            "\n".join(
                [
                    header,
                    "G1,Robins,registration,pupil,1,student",
                    "G1,Robins,form,pupil,2,student",
                    "G1,Robins,form,pupil,3,student",
                    "G1,Robins,registration,pupil,4,pupil",
                    "G1,Robins,registration,pupil,5,pupil",
                    "G1,Robins,registration,pupil,6,student",
                    "G1,Robins\x07,registration,pupil,7,student",
                ]
            ),
            "groups",
        )
        assert where(batch) == [
            (3, "group_kind"),
            (4, "group_kind"),
            (5, "membership_role"),
            (6, "membership_role"),
            (8, "group_name"),
        ]
        assert batch.groups == [GroupRecord("G1", "Robins", GroupKind.REGISTRATION, row=2)]
        assert batch.memberships == [
            MembershipRecord("G1", Role.PUPIL, "1", MembershipRole.STUDENT, row=2),
            MembershipRecord("G1", Role.PUPIL, "6", MembershipRole.STUDENT, row=7),
        ]

    def test_attendance_row_errors(self):
        batch = parse(
            "\n".join(
                [
                    "pupil_mis_id,date,session,code",
                    "1,2025-03-03,AM,/",
                    "1,2025-03-03,AM,L",  # a second mark for the same session
                    "1,2025-03-03,EVE,/",
                    "1,2025-03-04,AM,?",
                    "2,2025-02-29,AM,/",
                ]
            ),
            "attendance",
        )
        assert where(batch) == [(3, "session"), (4, "session"), (5, "code"), (6, "date")]
        assert [(m.pupil_mis_id, m.code) for m in batch.attendance] == [("1", "/")]


class TestWholeFile:
    @pytest.mark.parametrize("report", list(CATALOGUE))
    def test_each_mandatory_column_is_required(self, report):
        spec = CATALOGUE[report]
        for missing in spec.mandatory_fields:
            header = ",".join(f for f in spec.mandatory_fields if f != missing)
            error = assert_refused(parse(header + "\n", report), f"has no {missing} column")
            assert error.field == missing

    def test_empty_file(self):
        assert_refused(parse(b"", "students"), "is empty")

    def test_repeated_column(self):
        assert_refused(
            parse(STUDENT_HEADER + ",MIS_ID\n", "students"), "has the column MIS_ID twice"
        )

    def test_binary_file(self):
        assert_refused(parse(b"PK\x03\x04\x00\x00binary", "students"), "NUL characters")

    def test_neither_utf8_nor_cp1252(self):
        # 0x81 is undefined in Windows-1252 and invalid alone in UTF-8
        assert_refused(
            parse(STUDENT_HEADER.encode() + b"\n1,A\x81n,Lee,2015-01-01\n", "students"),
            "neither UTF-8",
        )

    def test_unclosed_quote_reads_to_the_end(self):
        # Was: read as a row with empty names. The one long cell leaves the row short,
        # and the pupil of line 3 is inside it: no full list, so nobody has left.
        batch = students('1,"Ann,Lee,2015-01-01', "2,Bob,Lee,2015-01-02")
        assert batch.people == []
        assert where(batch) == [(2, "legal_given_name")]
        assert batch.errors[0].message == (
            "a quote mark opens the value in the legal_given_name column at line 2 and "
            "never closes, so the rest of the file (lines 2-3) reads as that one value: a "
            "stray quote mark or a file cut short; any rows there are hidden, so nobody is "
            "treated as having left; the row was skipped"
        )
        assert batch.rejected_keys == {(Role.PUPIL, "1")}
        assert batch.complete_for == frozenset()

    def test_a_stray_quote_mid_value_hides_no_row(self):
        """Found by ./dev fuzz: `1"984` keeps its quote (mid-value, the csv module reads
        it as it is), and the `,"` of the same row opened a value that ran to the end:
        rows 3 and 4 vanished inside it without a word and read as leavers."""
        batch = students(
            '1"984,Ann,Lee,",2015-01-01', "2,Bob,Lee,2015-01-02", "3,Cy,Lee,2015-01-03"
        )
        assert batch.people == []
        assert where(batch) == [(2, "date_of_birth")]
        assert "(lines 2-4) reads as that one value" in batch.errors[0].message
        assert batch.complete_for == frozenset()

    def test_stray_quotes_that_pair_up_over_lines_claim_no_leavers(self):
        """Two stray quotes close each other three lines apart: the row read over them
        is misshapen and the rows between are inside one value."""
        batch = students(
            '1,Ann,Lee,"2015-01-01',
            "2,Bob,Lee,2015-01-02",
            '3,Cy,Lee",2015-01-03,x',
            "4,Di,Lee,2015-01-04",
        )
        assert [p.mis_id for p in batch.people] == ["4"]
        assert where(batch) == [(2, None), (2, "date_of_birth")]
        assert batch.errors[1].message == (
            "the quoted value in the date_of_birth column at line 2 runs on to line 4: its "
            "quote marks do not pair up (a stray quote mark?), so rows may be hidden inside "
            "it and nobody is treated as having left"
        )
        assert batch.complete_for == frozenset()

    def test_two_stray_quotes_in_one_column_take_no_value_from_another_row(self):
        """They pair up over the line end and the row keeps its shape: read as it
        stood, pupil 1 took pupil 2's email and pupil 2 was gone without a word."""
        batch = students(
            '1,Ann,Lee,2015-01-01,",a@x.uk',
            '2,Bob,Lee,2015-01-02,",b@x.uk',
            "3,Cy,Lee,2015-01-03,x,c@x.uk",
            header=STUDENT_HEADER + ",notes,email",
        )
        assert [(p.mis_id, p.email) for p in batch.people] == [("3", "c@x.uk")]
        assert where(batch) == [(2, "notes")]
        assert batch.errors[0].message == (
            "the quoted value in the notes column at line 2 runs on over a line that reads "
            "as a row of its own (a stray quote mark?): the row was skipped, since its "
            "values may be another row's, and nobody is treated as having left"
        )
        assert batch.rejected_keys == {(Role.PUPIL, "1")}
        assert batch.complete_for == frozenset()

    def test_a_quoted_value_over_lines_in_a_whole_row_is_read(self):
        """A value over two lines is ordinary CSV (an address): the row has its shape,
        nothing is hidden, the list stays full."""
        batch = students(
            '1,Ann,Lee,2015-01-01,"Flat 2,\n1 High St, Town"',
            "2,Bob,Lee,2015-01-02,x",
            header=STUDENT_HEADER + ",address",
        )
        assert [p.mis_id for p in batch.people] == ["1", "2"]
        assert batch.errors == []
        assert batch.complete_for == {Role.PUPIL}


class TestHeadersAndEncodings:
    def test_headers_trimmed_case_insensitive_extra_columns_ignored(self):
        batch = parse(
            " MIS_ID ,Legal_Given_Name,LEGAL_FAMILY_NAME , Date_Of_Birth,favourite_colour\n"
            "1,Ann,Lee,2015-01-01,blue\n",
            "students",
        )
        assert batch.errors == []
        assert batch.people[0].mis_id == "1"

    def test_error_names_the_column_as_written(self):
        batch = parse(
            "MIS_ID,Legal_Given_Name,Legal_Family_Name,Date_Of_Birth\n1,Ann,Lee,31/02/2015\n",
            "students",
        )
        assert where(batch) == [(2, "Date_Of_Birth")]

    @pytest.mark.parametrize(
        "encode",
        [
            lambda text: text.encode("utf-8"),
            lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
            lambda text: text.encode("cp1252"),
        ],
        ids=["utf-8", "utf-8-bom", "cp1252"],
    )
    def test_encodings(self, encode):
        text = (
            f"{STUDENT_HEADER}\r\n1,Zoë,Ní Bhriain,2015-01-01\r\n"
            f"2,Siobhán,{CURLY_OBRIEN},2015-01-02\r\n"
        )
        batch = parse(encode(text), "students")
        assert batch.errors == []
        assert [(p.legal_given_name, p.legal_family_name) for p in batch.people] == [
            ("Zoë", "Ní Bhriain"),
            ("Siobhán", CURLY_OBRIEN),
        ]

    def test_row_numbers_are_file_lines_even_with_line_breaks_in_quotes(self):
        header = STUDENT_HEADER + ",address"
        batch = students(
            '1,Ann,Lee,2015-01-01,"1 High St\nHilltown"',
            "",
            "2,Bob,Lee,2015-02-30,",
            header=header,
        )
        assert where(batch) == [(5, "date_of_birth")]
        assert batch.people[0].address == "1 High St Hilltown"
        assert batch.rows_read == 2  # the blank line is not a row

    @pytest.mark.parametrize(
        ("written", "expected"),
        [
            ("2015-03-04", date(2015, 3, 4)),
            ("04/03/2015", date(2015, 3, 4)),
            ("4/3/2015", date(2015, 3, 4)),
            ("20150304", date(2015, 3, 4)),
            ("2015-03-04T00:00:00", date(2015, 3, 4)),
        ],
    )
    def test_date_forms(self, written, expected):
        assert students(f"1,Ann,Lee,{written}").people[0].date_of_birth == expected

    @pytest.mark.parametrize(
        ("written", "gender"),
        [
            ("M", Gender.MALE),
            ("male", Gender.MALE),
            ("Female", Gender.FEMALE),
            ("f", Gender.FEMALE),
            ("other", Gender.OTHER),
            ("X", Gender.OTHER),
            ("unknown", Gender.UNKNOWN),
            ("U", Gender.UNKNOWN),
        ],
    )
    def test_genders(self, written, gender):
        batch = students(f"1,Ann,Lee,2015-01-01,{written}", header=STUDENT_HEADER + ",gender")
        assert batch.people[0].gender is gender

    @pytest.mark.parametrize(
        ("written", "value"),
        [
            ("true", True),
            ("Yes", True),
            ("1", True),
            ("Y", True),
            ("false", False),
            ("no", False),
            ("0", False),
            ("N", False),
        ],
    )
    def test_booleans(self, written, value):
        header = "mis_id,legal_given_name,legal_family_name,pupil_mis_id,parental_responsibility"
        batch = parse(f"{header}\nC1,Sam,Lee,1,{written}\n", "contacts")
        assert batch.contact_links[0].parental_responsibility is value


def test_csv_needs_a_report():
    with pytest.raises(ValueError, match="needs its report"):
        parse_upload(b"x", fmt="csv", school=SCHOOL)


_NAME_CHARS = st.characters(
    codec="utf-8",
    categories=("Lu", "Ll", "Lt", "Lo", "Mn"),
    include_characters="'\N{RIGHT SINGLE QUOTATION MARK}-. ",
)
_NAMES = st.text(_NAME_CHARS, min_size=1, max_size=30).filter(lambda s: s.strip())


@settings(max_examples=150, deadline=None)
@given(given_name=_NAMES, family_name=_NAMES, encoding=st.sampled_from(["utf-8", "utf-8-sig"]))
def test_names_round_trip_through_csv(given_name, family_name, encoding):
    """Any name (apostrophes, hyphens, accents) written by a CSV writer reads back
    exactly, apart from trimming and collapsed inner spaces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(STUDENT_HEADER.split(","))
    writer.writerow(["1", given_name, family_name, "2015-01-01"])
    batch = parse(buffer.getvalue().encode(encoding), "students")
    assert batch.errors == []
    person = batch.people[0]
    assert person.legal_given_name == " ".join(given_name.split())
    assert person.legal_family_name == " ".join(family_name.split())


# Letters whose Windows-1252 bytes can never be read as UTF-8 by accident: ASCII
# and U+00C0-U+00FF (a lone byte of 0xC0 or above is not valid UTF-8 before a
# comma or another letter). Names like "Ã©" would be read as UTF-8 "é": a
# limit of guessing any encoding, and not a real name.
_CP1252_LETTERS = st.characters(codec="ascii", categories=("Lu", "Ll")) | st.characters(
    min_codepoint=0xC0, max_codepoint=0xFF, categories=("Lu", "Ll")
)


@settings(max_examples=50, deadline=None)
@given(names=st.lists(st.text(_CP1252_LETTERS, min_size=1, max_size=12), min_size=1, max_size=5))
def test_cp1252_names_round_trip(names):
    rows = "".join(f"{i},{name},Lee,2015-01-01\r\n" for i, name in enumerate(names))
    batch = parse((STUDENT_HEADER + "\r\n" + rows).encode("cp1252"), "students")
    assert [p.legal_given_name for p in batch.people] == names
