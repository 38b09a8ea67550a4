"""The line filters of a read in part (`row_changes.lines_naming`, `lines_not_naming`)
decide every line as the reader would read its cells: the csv module's cells, trimmed.
Most lines are decided by a split at commas; the rest as the reader reads them. Both
are held here to the rule written line by line, on random lines with quotes,
padding, commas inside quotes, other scripts, cells missing and either line end."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.domain.records import Role
from rollsync.ingest import row_changes
from rollsync.ingest.row_changes import lines_naming, lines_not_naming
from rollsync.ingest.values import strip

HEADER = b"sourcedId,status,classSourcedId,userSourcedId,role\r\n"
IDS = ["u1", "u2", "U1", "u-3", "7", "é9", "a b", ""]
ROLES = ["student", "teacher", "Student", "guardian", "", "x"]


def _written(value: str) -> st.SearchStrategy[str]:
    """`value` as a file may write it: plain, padded, quoted, quoted with padding."""
    return st.sampled_from(
        [value, f" {value}", f"{value} ", f'"{value}"', f'" {value}"', f'"{value},x"']
    )


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    cells = [
        draw(st.sampled_from(["e1", "", 'q"uote', "café"])),
        draw(st.sampled_from(["", "active", "tobedeleted", "a b"])),
        draw(st.sampled_from(["c1", "", '"c,2"', "c 3", '"x,u1,y"', '"x,u2,student,z"'])),
        draw(st.sampled_from(IDS).flatmap(_written)),
        draw(st.sampled_from(ROLES).flatmap(_written)),
        draw(st.sampled_from(["", "true", '"x"'])),
    ]
    cells = cells[: draw(st.integers(0, len(cells)))]
    end = draw(st.sampled_from(["\r\n", "\n"]))
    return (",".join(cells) + end).encode()


def _read(line: bytes, at: int) -> str:
    """Cell `at` as the reader reads it."""
    cells = next(csv.reader([line.decode().rstrip("\r\n")], strict=False), [])
    return strip(cells[at]) if at < len(cells) else ""


def _role_of(written: str) -> Role | None:
    return {"student": Role.PUPIL, "teacher": Role.STAFF}.get(written.casefold())


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    lines=st.lists(_line(), max_size=30),
    users=st.frozensets(st.sampled_from(IDS[:-1])),
)
def test_lines_naming_reads_each_line_as_the_reader_does(
    lines: list[bytes], users: frozenset[str]
) -> None:
    every = [HEADER, *lines]
    expected = [not _read(line, 3) or _read(line, 3) in users for line in lines]
    assert lines_naming(every, "usersourcedid", users) == expected


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    lines=st.lists(_line(), max_size=30),
    left_out=st.frozensets(
        st.tuples(st.sampled_from([Role.PUPIL, Role.STAFF]), st.sampled_from(IDS[:-1]))
    ),
)
def test_lines_not_naming_reads_each_line_as_the_reader_does(
    lines: list[bytes], left_out: frozenset[tuple[Role, str]]
) -> None:
    every = [HEADER, *lines]
    expected = []
    for line in lines:
        role = _role_of(_read(line, 4))
        expected.append(role is None or (role, _read(line, 3)) not in left_out)
    got = lines_not_naming(every, "usersourcedid", "role", left_out=left_out, role_of=_role_of)
    assert got == expected


def test_most_lines_are_decided_without_reading_them_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not vacuous: plain lines (more cells after those looked at) never reach the
    reader's own reading of a line; a quoted, padded or short one does."""
    read: list[bytes] = []
    real = row_changes._read_cell

    def counted(line: bytes, at: int) -> str:
        read.append(line)
        return real(line, at)

    monkeypatch.setattr(row_changes, "_read_cell", counted)
    plain = [b"e1,,c1,u1,student,true\r\n", b"e2,,c1,u2,teacher,\n", b"e3,,c1,,student,x\r\n"]
    odd = [b'e4,,c1," u1",student\r\n', b'e5,,"c,1",u2,student\r\n', b"e6,,c1\r\n"]
    every = [HEADER, *plain, *odd]
    assert lines_naming(every, "usersourcedid", frozenset({"u1"})) == [
        True, False, True, True, False, True,
    ]  # fmt: skip
    assert read == odd
    read.clear()
    kept = lines_not_naming(
        every,
        "usersourcedid",
        "role",
        left_out=frozenset({(Role.PUPIL, "u1"), (Role.PUPIL, "u2")}),
        role_of=_role_of,
    )
    assert kept == [False, True, True, False, False, True]
    assert sorted(set(read)) == sorted(odd)


def test_an_id_padded_without_quotes_is_trimmed_as_the_reader_trims_it() -> None:
    lines = [HEADER, b"e1,,c1, u1,student,x\r\n", b"e2,,c1,u2 ,Student,x\n"]
    assert lines_naming(lines, "usersourcedid", frozenset({"u1", "u2"})) == [True, True]
    assert lines_not_naming(
        lines,
        "usersourcedid",
        "role",
        left_out=frozenset({(Role.PUPIL, "u1"), (Role.PUPIL, "u2")}),
        role_of=_role_of,
    ) == [False, False]
