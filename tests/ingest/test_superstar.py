"""The SIMS CommandReporter (SuperStarReport XML) reader, on a simulated school."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree

from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    GroupRecord,
    ImportBatch,
    Role,
    RowError,
)
from rollsync.ingest.superstar import NO_PERMISSION, SuperStarReader, decode_caption
from rollsync.simulate import make_school_truth
from rollsync.simulate.snapshot import ExportPerson, SchoolSnapshot

from .helpers import SCHOOL

TODAY = date(2026, 9, 2)
Record = dict[str, str | None]


@pytest.fixture(scope="module")
def snapshot() -> SchoolSnapshot:
    return make_school_truth(pupils=30, phase="Primary")


def encode_caption(caption: str) -> str:
    """A caption as CommandReporter writes it (XmlConvert.EncodeName)."""
    return "".join(c if c.isalnum() or c in "-." else f"_x{ord(c):04X}_" for c in caption)


def render(records: list[Record], *, root: str = "SuperStarReport") -> bytes:
    """SuperStarReport XML; a None value is left out of its record, as .NET does."""
    top = etree.Element(root)
    for record in records:
        element = etree.SubElement(top, "Record")
        for caption, value in record.items():
            if value is not None:
                etree.SubElement(element, encode_caption(caption)).text = value
    return etree.tostring(top, xml_declaration=True, encoding="utf-8")


def read(payload: bytes, report: str) -> ImportBatch:
    return SuperStarReader().parse(payload, school=SCHOOL, report=report, today=TODAY)


def xs_date(day: date | None) -> str | None:
    return None if day is None else f"{day.isoformat()}T00:00:00"


def uk_date(day: date | None) -> str | None:
    return None if day is None else day.strftime("%d/%m/%Y")


def student(p: ExportPerson) -> Record:
    return {
        "ID": p.mis_id,
        "UPN": p.upn,
        "Legal Surname": p.legal_family,
        "Legal Forename": p.legal_given,
        "Preferred Forename": p.preferred_given,
        "Preferred Surname": p.preferred_family,
        "Middle Name(s)": p.middle,
        "Date of Birth": xs_date(p.dob),
        "Gender": p.gender.value,
        "Admission Date": xs_date(p.start_date),
        "Year": p.year_group,
        "Reg Group": p.reg_group,
        "Primary Email": p.email,
        "Postcode": p.address.postcode if p.address else None,
    }


def staff_member(p: ExportPerson) -> Record:
    return {
        "ID": p.mis_id,
        "Title": p.title,
        "Legal Surname": p.legal_family,
        "Legal Forename": p.legal_given,
        "Middle Name(s)": p.middle,
        "DOB": uk_date(p.dob),
        "Gender": p.gender.value,
        "Staff Code": p.staff_code,
        "Contract Start Date": uk_date(p.start_date),
        "Primary Email": p.email,
        "Postcode": p.address.postcode if p.address else None,
    }


def contact_rows(s: SchoolSnapshot) -> list[Record]:
    by_id = {c.mis_id: c for c in s.contacts}
    rows: list[Record] = []
    for link in s.links:
        c = by_id[link.contact_mis_id]
        rows.append(
            {
                "ID": c.mis_id,
                "Title": c.title,
                "Surname": c.legal_family,
                "Forename": c.legal_given,
                "Pupil ID": link.pupil_mis_id,
                "Priority": str(link.priority),
                "Parental Responsibility": "Yes" if link.parental_responsibility else "No",
                "Relationship": link.relationship,
                "Primary Email": c.email,
                "Postcode": c.address.postcode if c.address else None,
            }
        )
    return rows


def group_rows(s: SchoolSnapshot) -> list[Record]:
    return [
        {
            "Group ID": g.mis_id,
            "Group Name": g.name,
            "Group Type": g.kind.value,
            "Member Type": role.value,
            "Member ID": member,
            "Membership": membership.value,
        }
        for g in s.groups
        for role, member, membership in g.members
    ]


def attendance_rows(s: SchoolSnapshot) -> list[Record]:
    return [
        {"Pupil ID": m.pupil_mis_id, "Date": xs_date(m.date), "Session": m.session, "Mark": m.code}
        for m in s.attendance
    ]


def assert_refused(batch: ImportBatch, *words: str) -> RowError:
    assert batch.fatal
    assert len(batch.errors) == 1
    error = batch.errors[0]
    assert error.row is None
    for word in words:
        assert word in error.message
    assert batch.people == [] and batch.contact_links == [] and batch.groups == []
    assert batch.memberships == [] and batch.attendance == [] and batch.rejected_keys == set()
    assert batch.complete_for == frozenset() and batch.reports == frozenset()
    return error


# --- Whole reports read back as the school holds them --------------------------------


def test_students_read_back_equal_to_the_school(snapshot: SchoolSnapshot) -> None:
    batch = read(render([student(p) for p in snapshot.pupils]), "students")
    assert batch.errors == []
    assert batch.source_format == "sims-superstar"
    assert batch.reports == frozenset({"students"})
    assert batch.complete_for == frozenset({Role.PUPIL})
    assert batch.rows_read == len(snapshot.pupils)
    assert batch.rejected_keys == set()
    assert batch.contact_links == [] and batch.groups == [] and batch.attendance == []
    assert len(batch.people) == len(snapshot.pupils)
    # Fields no record carries (.NET writes no element for an empty value) are unknown.
    carried = {
        "preferred_given_name": any(p.preferred_given for p in snapshot.pupils),
        "preferred_family_name": any(p.preferred_family for p in snapshot.pupils),
        "middle_names": any(p.middle for p in snapshot.pupils),
        "email": any(p.email for p in snapshot.pupils),
    }
    unknown = {name for name, present in carried.items() if not present}
    assert unknown == {"preferred_family_name", "email"}  # the simulated school's
    for record, p in zip(batch.people, snapshot.pupils, strict=True):
        assert record.role is Role.PUPIL and not record.future
        assert (record.mis_id, record.upn) == (p.mis_id, p.upn)
        assert (record.legal_given_name, record.legal_family_name) == (
            p.legal_given,
            p.legal_family,
        )
        assert (record.preferred_given_name, record.preferred_family_name, record.middle_names) == (
            p.preferred_given,
            p.preferred_family,
            p.middle,
        )
        assert (record.date_of_birth, record.gender, record.start_date) == (
            p.dob,
            p.gender,
            p.start_date,
        )
        assert (record.year_group, record.registration_group) == (p.year_group, p.reg_group)
        assert record.postcode == (p.address.postcode if p.address else None)
        assert record.unknown_fields == frozenset(unknown | {"leaving_date", "address"})


def test_staff_read_back_with_uk_dates(snapshot: SchoolSnapshot) -> None:
    batch = read(render([staff_member(p) for p in snapshot.staff]), "staff")
    assert batch.errors == []
    assert batch.complete_for == frozenset({Role.STAFF})
    assert len(batch.people) == len(snapshot.staff)
    for record, p in zip(batch.people, snapshot.staff, strict=True):
        assert record.role is Role.STAFF
        assert (record.mis_id, record.title, record.staff_code) == (p.mis_id, p.title, p.staff_code)
        assert (record.legal_given_name, record.legal_family_name) == (
            p.legal_given,
            p.legal_family,
        )
        assert (record.date_of_birth, record.start_date, record.gender) == (
            p.dob,
            p.start_date,
            p.gender,
        )
        assert record.email == p.email


def test_contacts_read_back_with_every_link(snapshot: SchoolSnapshot) -> None:
    batch = read(render(contact_rows(snapshot)), "contacts")
    assert batch.errors == []
    assert batch.complete_for == frozenset({Role.CONTACT})
    assert batch.rows_read == len(snapshot.links)
    assert {p.mis_id: (p.legal_given_name, p.legal_family_name, p.title) for p in batch.people} == {
        c.mis_id: (c.legal_given, c.legal_family, c.title) for c in snapshot.contacts
    }
    assert len(batch.people) == len(snapshot.contacts)
    assert [
        (
            li.contact_mis_id,
            li.pupil_mis_id,
            li.priority,
            li.parental_responsibility,
            li.relationship,
        )
        for li in batch.contact_links
    ] == [
        (
            li.contact_mis_id,
            li.pupil_mis_id,
            li.priority,
            li.parental_responsibility,
            li.relationship,
        )
        for li in snapshot.links
    ]


def test_groups_read_back(snapshot: SchoolSnapshot) -> None:
    rows = group_rows(snapshot)
    batch = read(render(rows), "groups")
    assert batch.errors == [] and batch.people == []
    assert batch.complete_for == frozenset()
    assert {(g.mis_id, g.name, g.kind) for g in batch.groups} == {
        (g.mis_id, g.name, g.kind) for g in snapshot.groups
    }
    assert len(batch.groups) == len(snapshot.groups)
    assert [
        (m.group_mis_id, m.person_role, m.person_mis_id, m.role) for m in batch.memberships
    ] == [(g.mis_id, *member) for g in snapshot.groups for member in g.members]
    assert len(batch.memberships) == len(rows)


def test_attendance_read_back(snapshot: SchoolSnapshot) -> None:
    batch = read(render(attendance_rows(snapshot)), "attendance")
    assert batch.errors == [] and batch.people == []
    assert [(a.pupil_mis_id, a.date, a.session, a.code) for a in batch.attendance] == [
        (m.pupil_mis_id, m.date, m.session, m.code) for m in snapshot.attendance
    ]


# --- Captions -------------------------------------------------------------------------


def test_captions_are_decoded_as_xmlconvert_writes_them() -> None:
    assert decode_caption("Legal_x0020_Surname") == "Legal Surname"
    assert decode_caption("Middle_x0020_Name_x0028_s_x0029_") == "Middle Name(s)"
    assert decode_caption("_x0031_st_x0020_Contact") == "1st Contact"
    assert decode_caption("Plain") == "Plain"
    assert decode_caption("Not_x00ZZ_Escaped") == "Not_x00ZZ_Escaped"


def test_escaped_captions_in_a_document_are_read() -> None:
    payload = (
        b"<SuperStarReport><Record><ID>7</ID><Legal_x0020_Surname>Smith</Legal_x0020_Surname>"
        b"<legal_x0020_forename>Amelia</legal_x0020_forename><DOB>2016-01-02T00:00:00</DOB>"
        b"<Some_x0020_Other_x0020_Field>ignored</Some_x0020_Other_x0020_Field>"
        b"</Record></SuperStarReport>"
    )
    batch = read(payload, "students")
    assert batch.errors == []
    [record] = batch.people
    assert (record.mis_id, record.legal_given_name, record.legal_family_name) == (
        "7",
        "Amelia",
        "Smith",
    )
    assert record.date_of_birth == date(2016, 1, 2)


def test_utf16_and_dates_as_sims_may_write_them() -> None:
    text = (
        '<?xml version="1.0" encoding="utf-16"?><SuperStarReport>'
        "<Record><ID>1</ID><Legal_x0020_Surname>Ló</Legal_x0020_Surname>"
        "<Legal_x0020_Forename>Zoë</Legal_x0020_Forename>"
        "<Date_x0020_of_x0020_Birth>2016-04-03T00:00:00+01:00</Date_x0020_of_x0020_Birth>"
        "<Admission_x0020_Date>01/09/2020 00:00:00</Admission_x0020_Date></Record>"
        "<Record><ID>2</ID><Legal_x0020_Surname>Li</Legal_x0020_Surname>"
        "<Legal_x0020_Forename>Al</Legal_x0020_Forename>"
        "<Date_x0020_of_x0020_Birth>3/4/2016</Date_x0020_of_x0020_Birth></Record>"
        "</SuperStarReport>"
    )
    batch = read(text.encode("utf-16"), "students")
    assert batch.errors == []
    assert [
        (r.mis_id, r.legal_given_name, r.legal_family_name, r.date_of_birth, r.start_date)
        for r in batch.people
    ] == [
        ("1", "Zoë", "Ló", date(2016, 4, 3), date(2020, 9, 1)),
        ("2", "Al", "Li", date(2016, 4, 3), None),
    ]


def test_one_field_under_two_captions_refuses_the_document() -> None:
    payload = (
        b"<SuperStarReport><Record><ID>1</ID><DOB>2016-01-01</DOB>"
        b"<Date_x0020_of_x0020_Birth>2016-01-01</Date_x0020_of_x0020_Birth>"
        b"</Record></SuperStarReport>"
    )
    error = assert_refused(
        read(payload, "students"), "Record 1 gives one field twice, as DOB and as Date of Birth"
    )
    assert error.field == "Date of Birth"


# --- Refused documents ----------------------------------------------------------------


def test_command_reporter_error_is_quoted() -> None:
    payload = (
        b'<?xml version="1.0"?>\r\n<CommandReporterError><Message>Report not found: '
        b"rollsync Students</Message></CommandReporterError>"
    )
    error = assert_refused(
        read(payload, "students"), "SIMS CommandReporter reported an error", "Report not found"
    )
    assert "'Report not found: rollsync Students'" in error.message


def test_command_reporter_error_even_when_not_well_formed() -> None:
    payload = b"<CommandReporterError>Login failed for user 'sims'\r\n"
    assert_refused(read(payload, "staff"), "Login failed for user 'sims'")


def test_missing_permission_refuses_the_document(snapshot: SchoolSnapshot) -> None:
    rows = [{**student(p), "ID": None} for p in snapshot.pupils[:3]]
    rows[1]["ID"] = ""
    error = assert_refused(read(render(rows), "students"), NO_PERMISSION)
    assert error.field == "ID"
    assert NO_PERMISSION == (
        "the SIMS user lacks the Third Party Reporter permission group, so SIMS leaves ID "
        "fields empty"
    )


def test_missing_pupil_ids_refuse_contacts(snapshot: SchoolSnapshot) -> None:
    rows = [{**row, "Pupil ID": None} for row in contact_rows(snapshot)]
    error = assert_refused(read(render(rows), "contacts"), NO_PERMISSION)
    assert error.field == "Pupil ID"


def test_command_reporter_error_after_other_output() -> None:
    payload = b"SIMS .net CommandReporter\r\n<CommandReporterError>Database not found</CommandReporterError>"
    error = assert_refused(read(payload, "students"), "Database not found")
    assert "SIMS .net CommandReporter" not in error.message


def test_another_xml_document_is_refused() -> None:
    assert_refused(read(b"<CTfile><Header/></CTfile>", "students"), "<CTfile>", "SuperStarReport")


def test_a_tag_with_an_undeclared_prefix_refuses_the_document_as_lxml_does() -> None:
    # Read record by record, the prefix error comes only at the document's end; the
    # records before it must not be read as anything meanwhile.
    payload = (
        b"<SuperStarReport><Record><ID>1</ID><Legal_x0020_Surname>Lee</Legal_x0020_Surname>"
        b"<Mid:dle>x</Mid:dle></Record></SuperStarReport>"
    )
    assert_refused(read(payload, "students"), "not complete, well-formed XML", "Mid")


def test_a_field_twice_in_a_document_cut_short_is_refused_for_the_cut() -> None:
    # The document is judged whole first, as it was when it was parsed whole.
    payload = (
        b"<SuperStarReport><Record><ID>1</ID><DOB>2016-01-01</DOB><DOB>2016-01-01</DOB>"
        b"</Record><Record><ID>2</ID>"
    )
    assert_refused(read(payload, "students"), "cut short or damaged")
    assert_refused(read(payload + b"</Record></SuperStarReport>", "students"), "twice")


def test_truncated_xml_is_refused(snapshot: SchoolSnapshot) -> None:
    payload = render([student(p) for p in snapshot.pupils])
    assert_refused(read(payload[: len(payload) // 2], "students"), "cut short or damaged")


def test_billion_laughs_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10)
            for i in range(1, 10)
        )
        + b"]>\n<SuperStarReport><Record><ID>&lol9;</ID></Record></SuperStarReport>"
    )
    assert_refused(read(bomb, "students"), "DOCTYPE or ENTITY", "XML bomb")


def test_a_utf16_bomb_is_refused_too() -> None:
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><SuperStarReport><Record><ID>&a;</ID></Record></SuperStarReport>'
    assert_refused(read(bomb.encode("utf-16"), "students"), "DOCTYPE or ENTITY")


@pytest.mark.parametrize(
    "payload", [b"", b"\x00\xff\xfe garbage", b"ID,Legal Surname\n1,Smith\n", b"\x89PNG\r\n"]
)
def test_garbage_is_refused(payload: bytes) -> None:
    assert_refused(read(payload, "students"))


def test_an_unknown_report_is_refused_not_raised() -> None:
    assert_refused(read(b"<SuperStarReport/>", "timetable"), "timetable")
    assert_refused(SuperStarReader().parse(b"<SuperStarReport/>", school=SCHOOL, report=None))


def test_an_empty_report_is_a_full_empty_list() -> None:
    batch = read(b"<SuperStarReport/>", "students")
    assert batch.errors == [] and batch.people == [] and batch.rows_read == 0
    assert batch.complete_for == frozenset({Role.PUPIL})


# --- Cross-products -------------------------------------------------------------------


def test_cross_product_rows_of_one_person_collapse(snapshot: SchoolSnapshot) -> None:
    p, q = snapshot.pupils[:2]
    rows = [
        {**student(p), "Primary Email": "first@example.com"},
        {**student(p), "Primary Email": "second@example.com"},
        student(q),
        {**student(p), "Primary Email": "third@example.com"},
    ]
    batch = read(render(rows), "students")
    assert batch.errors == []
    assert [(r.mis_id, r.row, r.email) for r in batch.people] == [
        (p.mis_id, 1, "first@example.com"),
        (q.mis_id, 3, None),
    ]
    assert batch.rejected_keys == set()


def test_cross_product_rows_that_disagree_on_identity_are_all_refused(
    snapshot: SchoolSnapshot,
) -> None:
    p, q = snapshot.pupils[:2]
    rows = [student(p), {**student(p), "Legal Surname": "Somebody-Else"}, student(q)]
    batch = read(render(rows), "students")
    assert [r.mis_id for r in batch.people] == [q.mis_id]
    assert batch.rejected_keys == {(Role.PUPIL, p.mis_id)}
    assert [(e.row, e.field) for e in batch.errors] == [(1, "ID"), (2, "ID")]
    assert all("legal_family_name differ" in e.message for e in batch.errors)


def test_contacts_cross_product_collapses_to_one_contact_and_link(
    snapshot: SchoolSnapshot,
) -> None:
    first = contact_rows(snapshot)[0]
    rows = [
        {**first, "Phone": "01632 960001"},
        {**first, "Phone": "01632 960002"},
        {**first, "Pupil ID": "99999", "Priority": "2"},
    ]
    batch = read(render(rows), "contacts")
    assert batch.errors == []
    [person] = batch.people
    assert (person.mis_id, person.phone, person.row) == (first["ID"], "01632 960001", 1)
    link = snapshot.links[0]
    c, pr, rel = link.contact_mis_id, link.parental_responsibility, link.relationship
    assert batch.contact_links == [
        ContactLink(c, link.pupil_mis_id, link.priority, pr, rel, row=1),
        ContactLink(c, "99999", 2, pr, rel, row=3),
    ]


def test_contacts_disagreeing_on_identity_are_refused(snapshot: SchoolSnapshot) -> None:
    first = contact_rows(snapshot)[0]
    rows = [first, {**first, "Forename": "Someone", "Pupil ID": "99999"}]
    batch = read(render(rows), "contacts")
    assert batch.people == [] and batch.contact_links == []
    assert batch.rejected_keys == {(Role.CONTACT, first["ID"])}
    assert [(e.row, e.field) for e in batch.errors] == [(1, "ID"), (2, "ID")]


def test_repeated_memberships_and_marks_collapse(snapshot: SchoolSnapshot) -> None:
    groups = group_rows(snapshot)[:2]
    batch = read(render([groups[0], groups[1], groups[0]]), "groups")
    assert batch.errors == [] and batch.rows_read == 3
    assert [(m.person_mis_id, m.row) for m in batch.memberships] == [
        (groups[0]["Member ID"], 1),
        (groups[1]["Member ID"], 2),
    ]
    group = snapshot.groups[0]
    assert batch.groups == [GroupRecord(group.mis_id, group.name, group.kind, row=1)]
    marks = attendance_rows(snapshot)[:1]
    batch = read(render(marks * 3), "attendance")
    assert batch.errors == []
    m = snapshot.attendance[0]
    assert batch.attendance == [AttendanceMark(m.pupil_mis_id, m.date, m.session, m.code, row=1)]


def test_a_repeat_with_its_fields_in_another_order_still_collapses(
    snapshot: SchoolSnapshot,
) -> None:
    first, second = group_rows(snapshot)[:2]
    reordered = dict(reversed(list(first.items())))
    batch = read(render([first, second, reordered]), "groups")
    assert batch.errors == [] and batch.rows_read == 3
    assert [m.row for m in batch.memberships] == [1, 2]
    # Not a repeat when one value differs, in either order: the membership repeats
    # (same keys), so it is reported at its record, not dropped quietly.
    changed = dict(reordered, **{"Group Name": "Another name"})
    batch = read(render([first, changed]), "groups")
    assert [(e.row, e.field) for e in batch.errors] == [(2, "Group Name"), (2, "Member ID")]
    assert [m.row for m in batch.memberships] == [1]


def test_each_tag_reads_the_same_in_every_record_and_text_around_markup_is_whole() -> None:
    # A tag's field is worked out once and reused: each record reads its own values,
    # a field named twice is refused in any record, and an element holding a comment
    # or a processing instruction reads as all of its text.
    payload = (
        b"<SuperStarReport>"
        b"<Record><ID>1</ID><Legal_x0020_Surname>Sm<!-- x -->ith</Legal_x0020_Surname>"
        b"<Legal_x0020_Forename>Ann</Legal_x0020_Forename><DOB>2016-01-02</DOB></Record>"
        b"<Record><ID>2</ID><Legal_x0020_Surname> Lee <?pi ?></Legal_x0020_Surname>"
        b"<Legal_x0020_Forename>Bo</Legal_x0020_Forename><DOB>2016-01-03</DOB></Record>"
        b"</SuperStarReport>"
    )
    batch = read(payload, "students")
    assert batch.errors == []
    assert [(r.mis_id, r.legal_given_name, r.legal_family_name) for r in batch.people] == [
        ("1", "Ann", "Smith"),
        ("2", "Bo", "Lee"),
    ]
    twice_later = payload.replace(
        b"<DOB>2016-01-03</DOB>",
        b"<DOB>2016-01-03</DOB><Date_x0020_of_x0020_Birth>2016-01-03</Date_x0020_of_x0020_Birth>",
    )
    assert_refused(read(twice_later, "students"), "Record 2 gives one field twice")


# --- Row errors -----------------------------------------------------------------------


def test_damaged_rows_are_reported_by_row_and_field_and_the_rest_read(
    snapshot: SchoolSnapshot,
) -> None:
    p1, p2, p3, p4, p5 = snapshot.pupils[:5]
    rows = [
        student(p1),
        {**student(p2), "Legal Forename": "Ann\x7fe"},  # DEL: legal in XML, no name has it
        {**student(p3), "Legal Surname": "X" * 10_000},
        {**student(p4), "Date of Birth": "31/02/2016"},
        {**student(p5), "Admission Date": "not a date"},
    ]
    payload = render(rows)
    batch = read(payload, "students")
    assert not batch.fatal
    assert [(e.row, e.field) for e in batch.errors] == [
        (2, "Legal Forename"),
        (3, "Legal Surname"),
        (4, "Date of Birth"),
        (5, "Admission Date"),
    ]
    assert "the row was skipped" in batch.errors[1].message
    assert "31/02/2016" in batch.errors[2].message
    assert "the rest of the row was imported" in batch.errors[3].message
    kept = {r.mis_id: r for r in batch.people}
    assert set(kept) == {p1.mis_id, p5.mis_id}
    assert kept[p5.mis_id].start_date is None
    assert kept[p5.mis_id].unknown_fields >= {"start_date"}
    assert batch.rejected_keys == {(Role.PUPIL, p.mis_id) for p in (p2, p3, p4)}
    assert batch.rows_read == 5


def test_the_reader_is_registered_as_a_format_of_one_report_per_file() -> None:
    from rollsync import ingest
    from rollsync.ingest.registry import FormatReader

    reader: FormatReader = SuperStarReader()
    assert (reader.format, reader.label, reader.needs_report) == (
        "sims-superstar",
        "SIMS CommandReporter report",
        True,
    )
    assert isinstance(ingest.reader_for("sims-superstar"), SuperStarReader)
    assert "sims-superstar" in ingest.FORMATS
