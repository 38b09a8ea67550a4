"""A rollsync CSV Students or Staff file read in part (`RollsyncCsvReader.parse_changed`):
only the people whose lines changed since the same report's earlier file are built,
everyone else it lists is named in `unchanged_keys`. The partial batch must equal the
full parse of the same file with the unchanged people's records taken out
(`partial_checks.check_part`): checked on a simulated school, on each kind of change,
and on random damage of both files (hypothesis). A Groups & Classes file likewise by
member: every group listed, the memberships of the members whose lines changed read
(`partial_checks.check_members_part`); a Contacts file by contact, all of a contact's
lines read or none."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollsync import ingest
from rollsync.domain.records import ImportBatch, Role
from rollsync.domain.state import SchoolRef
from rollsync.ingest.rollsync_csv import RollsyncCsvReader
from rollsync.simulate import make_school_truth, write_school_export

from .partial_checks import (
    cells_of,
    check_members_part,
    check_part,
    column_of,
    damaged,
    lines_of,
    with_cell,
)

TODAY = date(2026, 9, 10)

School = tuple[SchoolRef, dict[str, bytes]]


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> School:
    """The school's files by report, each as "<report>.csv"."""
    truth = make_school_truth(pupils=40, seed=5)
    folder: Path = tmp_path_factory.mktemp("csv")
    entries = write_school_export(truth, 1, "csv", folder)
    ref = SchoolRef(urn=truth.urn, la_code=truth.la_code, estab=truth.estab)
    return ref, {f"{e.report}.csv": (folder / e.path).read_bytes() for e in entries}


def _full(payload: bytes, ref: SchoolRef, report: str) -> ImportBatch:
    return ingest.parse_upload(payload, fmt="csv", school=ref, report=report, today=TODAY)


def check_partial(
    earlier: bytes, payload: bytes, ref: SchoolRef, report: str
) -> ImportBatch | None:
    """The read in part of `payload` against `earlier`, checked against the full parses
    of both; None when it fell back to a full parse."""
    before = _full(earlier, ref, report)
    refused = [(e.source, e.row) for e in before.errors if e.row is not None]
    part = RollsyncCsvReader().parse_changed(
        earlier, payload, school=ref, refused=refused, report=report, today=TODAY
    )
    if part is not None:
        if report == "groups":
            check_members_part(part, before, _full(payload, ref, report))
        else:
            check_part(part, before, _full(payload, ref, report), pupils_named=report == "contacts")
    return part


@pytest.mark.parametrize("report", ["students", "staff"])
def test_the_same_file_builds_nobody(school: School, report: str) -> None:
    ref, files = school
    payload = files[f"{report}.csv"]
    part = check_partial(payload, payload, ref, report)
    assert part is not None
    assert part.people == [] and part.errors == []
    assert len(part.unchanged_keys) == len(lines_of(payload)) - 1 > 4
    role = Role.PUPIL if report == "students" else Role.STAFF
    assert {r for r, _ in part.unchanged_keys} == {role} and part.complete_for == {role}


def test_a_renamed_pupil_is_built_and_nobody_else(school: School) -> None:
    ref, files = school
    lines = lines_of(files["students.csv"])
    lines[3] = with_cell(lines[3], 2, b"Renamed")
    part = check_partial(files["students.csv"], b"".join(lines), ref, "students")
    assert part is not None
    assert [(p.mis_id, p.legal_family_name) for p in part.people] == [
        (cells_of(lines[3])[0].decode(), "Renamed")
    ]


def test_a_line_starting_with_a_byte_order_mark_is_read_as_the_reader_reads_it(
    school: School,
) -> None:
    # Found by `./dev fuzz`: the reader reads a data line's U+FEFF as part of its ID (a
    # new person), and the comparison of lines took it off (the same person, unchanged).
    ref, files = school
    lines = lines_of(files["students.csv"])
    lines[3] = "\ufeff".encode() + lines[3]
    part = check_partial(files["students.csv"], b"".join(lines), ref, "students")
    assert part is not None
    mis_id = cells_of(lines[3])[0].decode()
    assert [p.mis_id for p in part.people] == [mis_id] and mis_id.startswith("\ufeff")


def test_a_pupil_gone_is_not_listed_and_a_starter_is_built(school: School) -> None:
    ref, files = school
    lines = lines_of(files["students.csv"])
    gone = cells_of(lines[2])[0].decode()
    starter = with_cell(lines[2], 0, b"NEW1")
    later = b"".join([*lines[:2], *lines[3:], starter])
    part = check_partial(files["students.csv"], later, ref, "students")
    assert part is not None
    assert [p.mis_id for p in part.people] == ["NEW1"]
    assert (Role.PUPIL, gone) not in part.unchanged_keys


def test_a_row_refused_before_is_read_again(school: School) -> None:
    # The earlier file refused a pupil (no family name); the new one changes someone
    # else: the refusal is reported again, with its row, as the full parse reports it.
    ref, files = school
    lines = lines_of(files["students.csv"])
    lines[2] = with_cell(lines[2], 2, b"")
    earlier = b"".join(lines)
    lines[5] = with_cell(lines[5], 2, b"Changed")
    part = check_partial(earlier, b"".join(lines), ref, "students")
    assert part is not None
    assert [e.row for e in part.errors] == [3]
    assert (Role.PUPIL, cells_of(lines[2])[0].decode()) in part.rejected_keys


@pytest.mark.parametrize("report", ["students_future", "attendance"])
def test_other_reports_are_parsed_in_full(school: School, report: str) -> None:
    ref, files = school
    payload = files[f"{report}.csv"]
    got = RollsyncCsvReader().parse_changed(
        payload, payload, school=ref, refused=[], report=report, today=TODAY
    )
    assert got is None


@pytest.mark.parametrize(
    "damage", ["header changed", "no last line end", "a value over two lines", "error of a file"]
)
def test_what_cannot_be_compared_line_for_line_is_parsed_in_full(
    school: School, damage: str
) -> None:
    ref, files = school
    lines = lines_of(files["students.csv"])
    refused: list[tuple[str | None, int]] = []
    if damage == "header changed":
        later = b"".join([lines[0].replace(b"upn", b"UPN"), *lines[1:]])
    elif damage == "no last line end":
        later = b"".join([*lines[:-1], lines[-1].rstrip(b"\r\n")])
    elif damage == "a value over two lines":
        later = b"".join([*lines, b'X1,"Ann\n', b'e",Smith\n'])
    else:
        later, refused = files["students.csv"], [("users.csv", 3)]
    got = RollsyncCsvReader().parse_changed(
        files["students.csv"], later, school=ref, refused=refused, report="students", today=TODAY
    )
    assert got is None


def test_a_stray_quote_that_runs_a_row_on_is_parsed_in_full(school: School) -> None:
    # Found by `./dev fuzz`: `1"984` keeps its quote and the `,"` of the same line opens
    # a value that runs to the end of the file. Both lines held two quotes, so the
    # line-by-line comparison took the rows after it as unchanged; the full parse has
    # them inside one value, reports it and claims no leavers.
    ref, files = school
    lines = lines_of(files["staff.csv"])
    first = cells_of(lines[1])
    lines[1] = b",".join([first[0][:1] + b'"' + first[0][1:], *first[1:-1], b'"' + first[-1]])
    lines[1] += b"\n"
    got = RollsyncCsvReader().parse_changed(
        files["staff.csv"], b"".join(lines), school=ref, refused=[], report="staff", today=TODAY
    )
    assert got is None
    full = _full(b"".join(lines), ref, "staff")
    assert full.people == [] and full.complete_for == frozenset()
    assert [e.row for e in full.errors] == [2]
    assert f"(lines 2-{len(lines)})" in full.errors[0].message


@pytest.mark.parametrize("report", ["students", "staff", "groups", "contacts"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_changes_read_in_part_equal_the_full_parse(
    school: School, data: st.DataObject, report: str
) -> None:
    ref, files = school
    name = f"{report}.csv"
    members = {name: files[name]}
    earlier = data.draw(damaged(members, [name], ids_from=name))
    later = data.draw(damaged(earlier, [name], ids_from=name))
    check_partial(earlier[name], later[name], ref, report)


def test_lines_cells_are_read_as_the_reader_reads_them(school: School) -> None:
    # The ID of a line padded or quoted is the reader's value: left out as unchanged.
    ref, files = school
    lines = lines_of(files["students.csv"])
    at = column_of({"s": files["students.csv"]}, "s", "mis_id")
    lines[1] = with_cell(lines[1], at, b'"' + cells_of(lines[1])[at] + b'"')
    earlier = b"".join(lines)
    lines[4] = with_cell(lines[4], 2, b"Changed")
    part = check_partial(earlier, b"".join(lines), ref, "students")
    assert part is not None and len(part.people) == 1


# -- Groups & Classes: a line per membership ----------------------------------------


def _groups(school: School) -> list[bytes]:
    return lines_of(school[1]["groups.csv"])


def _member(line: bytes) -> tuple[Role, str]:
    cells = cells_of(line)
    return (Role.PUPIL if cells[3] == b"pupil" else Role.STAFF), cells[4].decode()


def test_the_same_groups_file_lists_every_group_and_reads_no_membership(school: School) -> None:
    ref, files = school
    payload = files["groups.csv"]
    part = check_partial(payload, payload, ref, "groups")
    assert part is not None
    assert part.memberships == [] and part.errors == [] and part.people == []
    assert len(part.groups) == len({cells_of(line)[0] for line in _groups(school)[1:]}) > 3
    assert part.unchanged_keys == {_member(line) for line in _groups(school)[1:]}
    assert part.rows_read == len(_groups(school)) - 1


def test_a_membership_dropped_reads_that_members_lines_alone(school: School) -> None:
    ref, files = school
    lines = _groups(school)
    n = next(i for i in range(3, len(lines)) if cells_of(lines[i])[3] == b"pupil")
    gone = _member(lines[n])
    later = b"".join([*lines[:n], *lines[n + 1 :]])
    part = check_partial(files["groups.csv"], later, ref, "groups")
    assert part is not None
    theirs = [line for line in lines[1:] if _member(line) == gone and line != lines[n]]
    assert len(theirs) > 1
    assert [(m.person_role, m.person_mis_id) for m in part.memberships] == [gone] * len(theirs)
    assert gone not in part.unchanged_keys


def test_a_group_renamed_on_its_first_line_reads_every_line_that_now_disagrees(
    school: School,
) -> None:
    # The reader names a group by its first line and reports each later line that names
    # it otherwise: those lines are unchanged, and must be read all the same.
    ref, files = school
    lines = _groups(school)
    group = cells_of(lines[1])[0]
    lines[1] = with_cell(lines[1], 1, b"Renamed")
    part = check_partial(files["groups.csv"], b"".join(lines), ref, "groups")
    assert part is not None
    of_group = [i for i, line in enumerate(lines[1:], 2) if cells_of(line)[0] == group]
    assert [e.row for e in part.errors] == of_group[1:]
    assert next(g.name for g in part.groups if g.mis_id == group.decode()) == "Renamed"


def test_a_group_whose_first_line_is_refused_is_read_in_full(school: School) -> None:
    ref, files = school
    lines = _groups(school)
    lines[1] = with_cell(lines[1], 2, b"nonsense")
    later = b"".join(lines)
    assert _full(later, ref, "groups").errors[0].row == 2
    got = RollsyncCsvReader().parse_changed(
        files["groups.csv"], later, school=ref, refused=[], report="groups", today=TODAY
    )
    assert got is None


def test_a_membership_refused_before_is_reported_again(school: School) -> None:
    ref, _files = school
    lines = _groups(school)
    lines[6] = with_cell(lines[6], 5, b"janitor")  # not teacher or student: refused
    earlier = b"".join(lines)
    lines[9] = with_cell(lines[9], 4, b"NEW9")
    part = check_partial(earlier, b"".join(lines), ref, "groups")
    assert part is not None
    assert [e.row for e in part.errors] == [7]
    assert _member(lines[6]) not in part.unchanged_keys
    assert _member(lines[9]) in {(m.person_role, m.person_mis_id) for m in part.memberships}


def test_a_member_named_in_also_is_read_whatever_their_lines(school: School) -> None:
    ref, files = school
    payload = files["groups.csv"]
    role, mis_id = _member(_groups(school)[2])
    part = RollsyncCsvReader().parse_changed(
        payload, payload, school=ref, refused=[], also=[mis_id], report="groups", today=TODAY
    )
    assert part is not None
    check_members_part(part, _full(payload, ref, "groups"), _full(payload, ref, "groups"))
    assert {(m.person_role, m.person_mis_id) for m in part.memberships} == {(role, mis_id)}


@pytest.mark.parametrize("written", [b'" 9751"', b"  9751 ", b'"97  51"'])
def test_a_member_id_written_otherwise_is_named_as_the_reader_reads_it(
    school: School, written: bytes
) -> None:
    # Quoted, padded, or with a run of inner spaces (read as one): the member left out,
    # or built, is the one the reader would name, on both of their lines.
    ref, _files = school
    lines = _groups(school)
    pupils = [i for i, line in enumerate(lines) if i and cells_of(line)[3] == b"pupil"]
    n = pupils[0]
    m = next(i for i in pupils if cells_of(lines[i])[0] != cells_of(lines[n])[0])
    other = next(i for i in pupils if i not in (n, m))
    for i in (n, m):
        lines[i] = with_cell(lines[i], 4, written)
    earlier = b"".join(lines)
    member = next(x for x in _full(earlier, ref, "groups").memberships if x.row == n + 1)
    key = (member.person_role, member.person_mis_id)
    assert key[1] in ("9751", "97 51")
    lines[other] = with_cell(lines[other], 5, b"teacher")  # somebody else's line changes
    part = check_partial(earlier, b"".join(lines), ref, "groups")
    assert part is not None and key in part.unchanged_keys
    lines[m] = with_cell(lines[m], 5, b"teacher")  # now one of theirs does
    part = check_partial(earlier, b"".join(lines), ref, "groups")
    assert part is not None and key not in part.unchanged_keys
    rows = [x.row for x in part.memberships if (x.person_role, x.person_mis_id) == key]
    assert rows == [n + 1, m + 1]


# -- Contacts: a line per contact and pupil linked -----------------------------------


def _contacts(school: School) -> list[bytes]:
    return lines_of(school[1]["contacts.csv"])


def _contact_and_pupil(line: bytes) -> tuple[str, str]:
    cells = cells_of(line)
    return cells[0].decode(), cells[3].decode()


def _two_line_contact(lines: list[bytes]) -> str:
    counts: dict[str, int] = {}
    for line in lines[1:]:
        contact, _ = _contact_and_pupil(line)
        counts[contact] = counts.get(contact, 0) + 1
    return next(c for c, n in counts.items() if n == 2)


def test_the_same_contacts_file_builds_nobody(school: School) -> None:
    ref, files = school
    payload = files["contacts.csv"]
    part = check_partial(payload, payload, ref, "contacts")
    assert part is not None
    assert part.people == [] and part.contact_links == [] and part.errors == []
    assert part.unchanged_keys == {
        (Role.CONTACT, _contact_and_pupil(line)[0]) for line in _contacts(school)[1:]
    }
    assert part.complete_for == {Role.CONTACT}


def test_a_contact_changed_on_one_line_is_built_from_all_of_them(school: School) -> None:
    ref, files = school
    lines = _contacts(school)
    contact = _two_line_contact(lines)
    theirs = [i for i, line in enumerate(lines) if _contact_and_pupil(line)[0] == contact]
    lines[theirs[1]] = with_cell(lines[theirs[1]], 9, b"07700 900999")  # a phone
    part = check_partial(files["contacts.csv"], b"".join(lines), ref, "contacts")
    assert part is not None
    assert [p.mis_id for p in part.people] == [contact]
    assert [x.row for x in part.contact_links] == [i + 1 for i in theirs]


def test_a_link_dropped_builds_its_contact_with_the_links_left(school: School) -> None:
    ref, files = school
    lines = _contacts(school)
    contact = _two_line_contact(lines)
    theirs = [i for i, line in enumerate(lines) if _contact_and_pupil(line)[0] == contact]
    later = b"".join(line for i, line in enumerate(lines) if i != theirs[0])
    part = check_partial(files["contacts.csv"], later, ref, "contacts")
    assert part is not None
    assert [p.mis_id for p in part.people] == [contact]
    assert [(x.contact_mis_id, x.pupil_mis_id) for x in part.contact_links] == [
        _contact_and_pupil(lines[theirs[1]])
    ]


def test_a_pupil_named_in_also_has_every_contact_of_theirs_built(school: School) -> None:
    # An event since named the pupil (a leaver, a restore): their links are weighed
    # again, and a link is its contact's, so their contacts are built.
    ref, files = school
    payload = files["contacts.csv"]
    pupil = _contact_and_pupil(_contacts(school)[1])[1]
    theirs = {c for c, p in map(_contact_and_pupil, _contacts(school)[1:]) if p == pupil}
    part = RollsyncCsvReader().parse_changed(
        payload, payload, school=ref, refused=[], also=[pupil], report="contacts", today=TODAY
    )
    assert part is not None
    check_part(
        part, _full(payload, ref, "contacts"), _full(payload, ref, "contacts"), pupils_named=True
    )
    assert {p.mis_id for p in part.people} == theirs and len(theirs) > 1


def test_a_contact_refused_before_is_reported_again(school: School) -> None:
    ref, _files = school
    lines = _contacts(school)
    lines[2] = with_cell(lines[2], 2, b"")  # no surname: refused
    earlier = b"".join(lines)
    lines[6] = with_cell(lines[6], 9, b"07700 900999")
    part = check_partial(earlier, b"".join(lines), ref, "contacts")
    assert part is not None
    assert [e.row for e in part.errors] == [3]
    assert (Role.CONTACT, _contact_and_pupil(lines[2])[0]) not in part.unchanged_keys


def test_a_contact_whose_lines_come_in_another_order_is_built(school: School) -> None:
    # The reader takes a contact's details from their first line: lines that disagree
    # (one with no title), the same bytes in another order, make another record.
    ref, _files = school
    lines = _contacts(school)
    contact = _two_line_contact(lines)
    first, second = [i for i, line in enumerate(lines) if _contact_and_pupil(line)[0] == contact]
    lines[second] = with_cell(lines[second], 4, b"")
    earlier = b"".join(lines)
    lines[first], lines[second] = lines[second], lines[first]
    part = check_partial(earlier, b"".join(lines), ref, "contacts")
    assert part is not None
    assert [p.mis_id for p in part.people] == [contact]
    before = next(p for p in _full(earlier, ref, "contacts").people if p.mis_id == contact)
    assert (before.title, part.people[0].title) == ("Mr", None)
