"""A rollsync CSV Students or Staff file read in part (`RollsyncCsvReader.parse_changed`):
only the people whose lines changed since the same report's earlier file are built,
everyone else it lists is named in `unchanged_keys`. The partial batch must equal the
full parse of the same file with the unchanged people's records taken out
(`partial_checks.check_part`): checked on a simulated school, on each kind of change,
and on random damage of both files (hypothesis)."""

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

from .partial_checks import cells_of, check_part, column_of, damaged, lines_of, with_cell

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
        check_part(part, before, _full(payload, ref, report))
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


@pytest.mark.parametrize("report", ["contacts", "groups", "students_future", "attendance"])
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), report=st.sampled_from(["students", "staff"]))
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
