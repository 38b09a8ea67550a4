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
