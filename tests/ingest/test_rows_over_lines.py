"""A read in part compares a member line by line only when the csv module reads each
line as one whole row (`row_changes.member_lines`): no quoted value runs on past a
line's end. Held here to the csv module itself, on random lines of commas, quotes,
letters and spaces: a stray quote inside a value and a quote that opens one that never
closes are the cases counting quotes got wrong (found by ./dev fuzz)."""

from __future__ import annotations

import csv

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rollsync.ingest.row_changes import ends_in_quotes, member_lines

_END = "\x00\n"


def _csv_runs_on(line: bytes) -> bool:
    """The csv module's own answer: a line after it is read into its last value."""
    rows = list(csv.reader([line.decode(), _END], strict=False))
    return rows[-1] != ["\x00"]


_LINES = st.text(alphabet=',"a ', max_size=12).map(lambda text: text.encode() + b"\n")


@settings(max_examples=3000, deadline=None)
@given(_LINES)
@example(b'1"984,Ann,",x\n')
@example(b'x,a",b,"c\n')
@example(b'"a""",b\n')
@example(b'"a"b,"c\n')
@example(b'"",""\n')
def test_a_line_runs_on_exactly_when_the_csv_module_reads_on(line: bytes) -> None:
    assert ends_in_quotes(line) == _csv_runs_on(line)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_LINES, min_size=1, max_size=6))
@example([b'1"984,Ann,",x\n', b"2,Bob,x\n"])
@example([b'"a,b",c\n', b'x,a",b,"c\n'])
def test_a_member_is_compared_line_by_line_only_when_every_line_is_a_row(
    lines: list[bytes],
) -> None:
    data = b"id,name,x\n" + b"".join(lines)
    whole = not any(_csv_runs_on(line) for line in [b"id,name,x\n", *lines])
    found = member_lines(data, ("id",))
    assert (found is not None) == whole
    if found is not None:
        assert found.lines == data.splitlines(keepends=True)


_STRAY_HEADER = "mis_id,legal_given_name,legal_family_name,date_of_birth,notes,email"


@settings(max_examples=400, deadline=None)
@given(
    st.integers(min_value=2, max_value=8).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 60)), min_size=1, max_size=4),
        )
    )
)
def test_stray_quotes_never_lose_a_row_quietly_or_lend_its_values(
    rows_and_quotes: tuple[int, list[tuple[int, int]]],
) -> None:
    """Quote marks dropped anywhere into a Students file: when the file still claims a
    full list, every row whose ID kept its shape is listed, and nobody read takes
    another row's email (a stray quote reading a row into a value said neither)."""
    from datetime import date

    from rollsync.domain.records import Role
    from rollsync.domain.state import SchoolRef
    from rollsync.ingest import parse_upload

    n, quotes = rows_and_quotes
    lines = [f"{k + 1},Ann{k},Lee,2015-01-0{k % 9 + 1},note {k},p{k}@x.uk" for k in range(n)]
    for row, at in quotes:
        at = min(at, len(lines[row]))
        lines[row] = lines[row][:at] + '"' + lines[row][at:]
    payload = "\n".join([_STRAY_HEADER, *lines]) + "\n"
    ref = SchoolRef(urn="100001", la_code="999", estab="1001")
    batch = parse_upload(
        payload.encode(), fmt="csv", school=ref, report="students", today=date(2026, 9, 1)
    )
    by_id = {f"{k + 1}": f"p{k}@x.uk" for k in range(n)}
    for person in batch.people:
        assert (
            person.email is None
            or person.mis_id not in by_id
            or (person.email.replace('"', "") == by_id[person.mis_id])
        ), (payload, person)
    if Role.PUPIL in batch.complete_for:
        listed = {p.mis_id for p in batch.people} | {k for _, k in batch.rejected_keys}
        kept_shape = {line.split(",", 1)[0] for line in lines if '"' not in line}
        assert kept_shape <= listed, payload
