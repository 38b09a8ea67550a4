"""Which users of a OneRoster bundle changed since an earlier upload of it.

A night's export of a school differs from the last one in a few rows. Comparing the
two bundles' lines (bytes, not parsed values) names the users whose rows were added,
removed or changed, at about the cost of splitting the files into lines; the reader
then builds only those users (`oneroster.OneRosterReader.parse_changed`). Anything
this module cannot compare line for line with certainty gives None, and the upload is
parsed in full: a member other than users, demographics, roles and enrollments that
differs, a header that differs, a file that is not UTF-8 or holds a row over several
lines (a quoted line end), a lone carriage return, a file without its last line end
(it may be cut short), or an error of the earlier run that names a file or a row this
cannot place.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .bundles import Bundle
from .roster import split_list
from .values import strip

# The members read row by row, each with the column that names the row's user.
USER_COLUMN = {
    "users.csv": "sourcedid",
    "demographics.csv": "sourcedid",
    "roles.csv": "usersourcedid",
    "enrollments.csv": "usersourcedid",
}
# The members the reader takes whole: they must be the same bytes.
WHOLE = ("manifest.csv", "orgs.csv", "classes.csv")


@dataclass(frozen=True, slots=True)
class MemberLines:
    """A member's lines as the file holds them (line ends kept): `lines[0]` is line 1,
    the header, whose keys are `keys`."""

    lines: list[bytes]
    keys: list[str]

    def cell(self, line: bytes, key: str) -> str:
        """A data line's cell of column `key`, as the reader reads it ('' if none)."""
        if key not in self.keys:
            return ""
        at, cells = self.keys.index(key), cells_of(line)
        return strip(cells[at]) if at < len(cells) else ""


def cells_of(line: bytes) -> list[str]:
    """One line's cells, as the csv module reads them (the line is one whole row)."""
    text = line.decode("utf-8").removeprefix("\ufeff")
    return next(csv.reader([text.rstrip("\r\n")], strict=False), [])


def header_keys(line: bytes) -> list[str]:
    """A header line's column keys, as `csvtable.read_table` matches them."""
    return [cell.replace("\ufeff", "").strip().casefold() for cell in cells_of(line)]


def member_lines(data: bytes, column: str) -> MemberLines | None:
    """The member's lines, or None when they cannot be compared one for one with the
    rows the reader sees (module docstring)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not data.endswith(b"\n") or data.count(b"\r") != data.count(b"\r\n"):
        return None
    lines = data.splitlines(keepends=True)
    if b'"' in data and any(line.count(b'"') % 2 for line in lines if b'"' in line):
        return None  # a quoted value holds a line end: a row over several lines
    keys = header_keys(lines[0])
    return MemberLines(lines, keys) if column in keys else None


def lines_naming(
    lines: list[bytes], column: str, *, role_column: str | None = None
) -> Iterator[tuple[str | bytes, str]]:
    """For each data line of `lines` (the header first): the cell of `column` and, with
    `role_column`, that cell too ('' without), as the reader would read them, except
    that a user's cell may come as the line's raw bytes.

    A raw cell is what the reader reads once trimmed: a caller that finds it, as bytes,
    among values already trimmed has found the value the reader reads (trimming a
    trimmed value changes nothing); one that does not must decode and trim it
    (`values.strip`) before it is sure. A night's bundle is tens of thousands of lines,
    nearly all of people left out: this decides most of them with one split each and
    no decoding (a third of reading a churn in part went on decoding and trimming
    every cell of enrollments.csv)."""
    names = header_keys(lines[0])
    user_at = names.index(column)
    role_at = names.index(role_column) if role_column is not None else None
    need = max(user_at, role_at or 0) + 1
    roles: dict[bytes, str] = {}
    for line in lines[1:]:
        cells = line.rstrip(b"\r\n").split(b",", need)
        if b'"' in line or len(cells) < need:
            found = cells_of(line)
            user = strip(found[user_at]) if user_at < len(found) else ""
            role = ""
            if role_at is not None and role_at < len(found):
                role = strip(found[role_at])
            yield user, role
            continue
        role = ""
        if role_at is not None:
            raw = cells[role_at]
            role = roles.get(raw) or roles.setdefault(raw, strip(raw.decode()))
        yield cells[user_at], role


def read_as(cell: str | bytes) -> str:
    """A cell from `lines_naming` as the reader reads it."""
    return strip(cell.decode()) if isinstance(cell, bytes) else cell


@dataclass(frozen=True, slots=True)
class UserChanges:
    """The users whose rows differ between two uploads of a bundle, with what the reader
    needs to build only them."""

    users: frozenset[str]
    # Agents named on the changed users.csv lines, before and after: a contact link
    # between them may have changed.
    agents: frozenset[str]


def user_changes(
    before: Bundle, after: Bundle, *, refused: Iterable[tuple[str | None, int]]
) -> UserChanges | None:
    """The users of `after` whose rows were added, removed or changed since `before`,
    those named twice by one line (a repeat is the reader's to judge), and those on a row
    the earlier run refused (`refused`: the (file, line) of each of its row errors, which
    must be reported again). None: parse `after` in full (module docstring)."""
    for name in WHOLE:
        if before.files.get(name) != after.files.get(name):
            return None
    changed: set[str] = set()
    agents: set[str] = set()
    refused_at: dict[str, list[int]] = {}
    for source, row in refused:
        if source in WHOLE:
            continue  # the same bytes, read whole again: its errors come again
        if source not in USER_COLUMN:
            return None
        refused_at.setdefault(source, []).append(row)
    for name, column in USER_COLUMN.items():
        old, new = before.files.get(name), after.files.get(name)
        if old is None and new is None:
            continue
        if old is None or new is None:
            return None
        was, now = member_lines(old, column), member_lines(new, column)
        if was is None or now is None or was.lines[0] != now.lines[0]:
            return None
        differing = _differing(was.lines[1:], now.lines[1:])
        for row in refused_at.pop(name, []):
            if not 2 <= row <= len(was.lines):
                return None
            differing.append(was.lines[row - 1])
        for line in differing:
            changed.add(now.cell(line, column))
            if name == "users.csv":
                agents.update(split_list(now.cell(line, "agentsourcedids")))
    if refused_at:
        return None  # an error of a member the bundle no longer has
    changed.discard("")
    return UserChanges(frozenset(changed), frozenset(agents))


def _differing(old: list[bytes], new: list[bytes]) -> list[bytes]:
    """Lines in one list and not the other, and every line either holds twice."""
    old_set, new_set = set(old), set(new)
    out = [line for line in new if line not in old_set]
    out += [line for line in old if line not in new_set]
    for lines, unique in ((old, old_set), (new, new_set)):
        if len(unique) < len(lines):
            out += [line for line, n in Counter(lines).items() if n > 1]
    return out
