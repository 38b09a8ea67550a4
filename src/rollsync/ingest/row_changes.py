"""Which users of a OneRoster or SDS bundle changed since an earlier upload of it.

A night's export of a school differs from the last one in a few rows. Comparing the
two bundles' lines (bytes, not parsed values) names the users whose rows were added,
removed or changed, at about the cost of splitting the files into lines; the reader
then builds only those users (`oneroster.OneRosterReader.parse_changed`,
`sds.SdsReader.parse_changed`). Anything this module cannot compare line for line with
certainty gives None, and the upload is parsed in full: a member the reader takes whole
(`BundleShape.whole`) that differs, a header that differs, a file that is not UTF-8 or holds a row over several
lines (a quoted line end), a lone carriage return, a file without its last line end
(it may be cut short), or an error of the earlier run that names a file or a row this
cannot place.
"""

from __future__ import annotations

import csv
import json
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import itemgetter

from rollsync.domain.records import Role

from .bundles import Bundle
from .errors import BadValue
from .roster import split_list
from .values import clean, parse_member_role, strip


@dataclass(frozen=True, slots=True)
class BundleShape:
    """How a format's bundle is compared line for line: the members read row by row,
    each with the columns that name the users a row is about, and the members the
    reader takes whole (they must be the same bytes)."""

    user_columns: dict[str, tuple[str, ...]]
    whole: tuple[str, ...]


ONEROSTER = BundleShape(
    user_columns={
        "users.csv": ("sourcedid",),
        "demographics.csv": ("sourcedid",),
        "roles.csv": ("usersourcedid",),
        "enrollments.csv": ("usersourcedid",),
    },
    whole=("manifest.csv", "orgs.csv", "classes.csv"),
)
# SDS v2.1: a relationships.csv row is about both its pupil and their contact.
SDS = BundleShape(
    user_columns={
        "users.csv": ("sourcedid",),
        "demographics.csv": ("usersourcedid",),
        "roles.csv": ("usersourcedid",),
        "enrollments.csv": ("usersourcedid",),
        "relationships.csv": ("usersourcedid", "relationshipusersourcedid"),
    },
    whole=("orgs.csv", "classes.csv"),
)


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
    """One data line's cells, as the csv module reads them (the line is one whole row).
    A byte order mark is the file's only before its header (`header_keys`): at the
    start of a data line it is a part of the first cell, as the reader reads it (found
    by the fuzzer: taken off here, a line whose ID gained one was compared as unchanged
    and its new person left out)."""
    text = line.decode("utf-8")
    return next(csv.reader([text.rstrip("\r\n")], strict=False), [])


def header_keys(line: bytes) -> list[str]:
    """A header line's column keys, as `csvtable.read_table` matches them."""
    return [cell.replace("\ufeff", "").strip().casefold() for cell in cells_of(line)]


def member_lines(data: bytes, columns: tuple[str, ...]) -> MemberLines | None:
    """The member's lines, or None when they cannot be compared one for one with the
    rows the reader sees (module docstring)."""
    if not data.isascii():  # most exports are: no text to build to know they are UTF-8
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not data.endswith(b"\n") or data.count(b"\r") != data.count(b"\r\n"):
        return None
    lines = data.splitlines(keepends=True)
    if b'"' in data and not _rows_are_lines(data, lines):
        return None  # a quoted value holds a line end: a row over several lines
    keys = header_keys(lines[0])
    return MemberLines(lines, keys) if set(columns) <= set(keys) else None


# A quoted value whole on its line, as the csv module reads one: a quote that starts a
# value (the line's first byte or after a comma), no quote but doubled ones and no line
# end inside, and the quote that ends it before a comma or the line's end. (The literal
# quote first lets the search skip to quotes.)
_QUOTED_VALUE = re.compile(rb'"(?<![^,\n]")[^"\r\n]*(?:""[^"\r\n]*)*"(?![^,\r\n])')


def _rows_are_lines(data: bytes, lines: list[bytes]) -> bool:
    """Whether the csv module reads each of the lines as one whole row: at no line's
    end is it inside a quoted value. Told in one scan when every quote is in a quoted
    value whole on its line (then no value runs on); else each line that holds a quote
    outside those is read quote by quote (`ends_in_quotes`). Counting a line's quotes
    is not enough: in `1"984,Ann,",x` the first is a quote mark inside a value, and
    the second opens one that runs on (found by ./dev fuzz)."""
    if b"".join(_QUOTED_VALUE.findall(data)).count(b'"') == data.count(b'"'):
        return True
    rest = _QUOTED_VALUE.sub(b"", data).splitlines()  # as many lines: no line end goes
    return not any(
        ends_in_quotes(line) for line, left in zip(lines, rest, strict=True) if b'"' in left
    )


def ends_in_quotes(line: bytes) -> bool:
    """Whether the csv module, reading `line` (its line end aside), is inside a quoted
    value at its end: a quote opens a value only where a value starts, a quote inside a
    quoted value ends it unless doubled, and any other quote is a character."""
    text = line.rstrip(b"\r\n")
    at, inside = 0, False
    while (quote := text.find(b'"', at)) != -1:
        if not inside:
            inside = quote == 0 or text[quote - 1] == 44  # a comma: a value starts
            at = quote + 1
        elif text[quote + 1 : quote + 2] == b'"':
            at = quote + 2  # a doubled quote, inside the value
        else:
            inside, at = False, quote + 1
    return inside


# A cell the reader reads as it is: printable ASCII, no space (most IDs and roles).
_AS_IS = re.compile(rb"[!-~]+")


def _as_is(cell: bytes) -> bool:
    return cell.isalnum() or _AS_IS.fullmatch(cell) is not None


def _fast_cells(line: bytes, need: int) -> list[bytes] | None:
    """The line's first `need` cells as raw bytes (and the rest of it), when a split at
    commas reads them as the csv module does: more cells follow and no quote comes
    before them (a quote after them, users.csv's agentSourcedIds say, cannot change
    them: the csv module reads a line from its start), or they are the whole line (its
    end taken off) and it holds no quote. None: read it as the reader does.

    A night's bundle is tens of thousands of lines, nearly all of users left out: one
    split a line, and no decoding of a raw cell found among the encoded IDs (trimming a
    trimmed value changes nothing) or that is printable ASCII with no space (then it is
    the value the reader reads), decides most of them. Decoding and trimming every cell
    of enrollments.csv was a third of reading a churn in part."""
    cells = line.split(b",", need)
    if len(cells) < need:
        return None
    if len(cells) == need:
        # The cells asked for end the line (SDS enrollments' role): read as they are when
        # the line quotes nothing.
        if b'"' in line:
            return None
        cells[-1] = cells[-1].rstrip(b"\r\n")
        return cells
    quote = line.find(b'"')
    if quote != -1 and quote < len(line) - len(cells[need]):
        return None
    return cells


def _read_cell(line: bytes, at: int) -> str:
    """Cell `at` of a line, as the reader reads it ('' if none)."""
    found = cells_of(line)
    return strip(found[at]) if at < len(found) else ""


def kept_lines(
    data: bytes, keep: Callable[[list[bytes]], list[bool]]
) -> tuple[bytes, list[int], int]:
    """The header and the data lines `keep` keeps of a member (given its lines, the
    header first, whether to read each data line), their line numbers in the member
    (for `csvtable.read_table`'s `renumber`), and how many lines were left out."""
    lines = data.splitlines(keepends=True)
    flags = keep(lines)
    assert len(flags) == len(lines) - 1
    kept = [lines[0], *compress(lines[1:], flags)]
    renumber = [1, *compress(range(2, len(lines) + 1), flags)]
    return b"".join(kept), renumber, len(lines) - len(kept)


def lines_naming(lines: list[bytes], column: str, users: frozenset[str]) -> list[bool]:
    """For each data line of `lines` (the header first): whether its `column` names one
    of `users` as the reader reads it, or nobody (the reader reports those, or skips
    them as blank lines)."""
    at = header_keys(lines[0]).index(column)
    raw = {user.encode() for user in users}
    keep: list[bool] = []
    for line in lines[1:]:
        cells = _fast_cells(line, at + 1)
        if cells is None:
            value = _read_cell(line, at)
        elif cells[at] in raw:
            keep.append(True)
            continue
        elif _as_is(cells[at]):
            keep.append(False)  # not one of them, and not blank
            continue
        else:
            value = strip(cells[at].decode())
        keep.append(not value or value in users)
    return keep


def lines_not_naming(
    lines: list[bytes],
    column: str,
    role_column: str,
    *,
    left_out: frozenset[tuple[Role, str]],
    role_of: Callable[[str], Role | None],
) -> list[bool]:
    """For each data line of `lines` (the header first): False when its `column` names a
    user who, in the role `role_of` makes of its `role_column`, is in `left_out`, as the
    reader reads both cells; True for every other line."""
    names = header_keys(lines[0])
    user_at, role_at = names.index(column), names.index(role_column)
    need = max(user_at, role_at) + 1
    roles_of, users_of = map(itemgetter(0), left_out), map(itemgetter(1), left_out)
    raw = set(zip(roles_of, map(str.encode, users_of), strict=True))
    roles: dict[bytes, Role | None] = {}
    keep: list[bool] = []
    for line in lines[1:]:
        cells = _fast_cells(line, need)
        if cells is None:
            role = role_of(_read_cell(line, role_at))
            keep.append(role is None or (role, _read_cell(line, user_at)) not in left_out)
            continue
        written = cells[role_at]
        if written in roles:
            role = roles[written]
        else:
            role = roles[written] = role_of(strip(written.decode()))
        user = cells[user_at]
        if role is None:
            keep.append(True)
        elif (role, user) in raw:
            keep.append(False)
        elif _as_is(user):
            keep.append(True)  # not among the encoded IDs: not theirs
        else:
            keep.append((role, strip(user.decode())) not in left_out)
    return keep


def joined_users(
    links: Iterable[tuple[str, Iterable[str]]], users: frozenset[str]
) -> frozenset[str]:
    """`users` and every user joined to them by a contact link, through any chain.
    `links`: each user with the users a row of theirs links them to (OneRoster: the
    agentSourcedIds of a users.csv row; SDS: a relationships.csv row's two ends)."""
    joined: dict[str, set[str]] = defaultdict(set)
    for user_id, others in links:
        for other in others:
            joined[user_id].add(other)
            joined[other].add(user_id)
    found = set(users)
    todo = list(users)
    while todo:
        for other in joined.get(todo.pop(), ()):
            if other not in found:
                found.add(other)
                todo.append(other)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class UserChanges:
    """The users whose rows differ between two uploads of a bundle, with what the reader
    needs to build only them."""

    users: frozenset[str]
    # Agents named on the changed users.csv lines, before and after: a contact link
    # between them may have changed.
    agents: frozenset[str]


def user_changes(
    before: Bundle,
    after: Bundle,
    *,
    refused: Iterable[tuple[str | None, int]],
    shape: BundleShape = ONEROSTER,
) -> UserChanges | None:
    """The users of `after` whose rows were added, removed or changed since `before`,
    those named twice by one line (a repeat is the reader's to judge), and those on a row
    the earlier run refused (`refused`: the (file, line) of each of its row errors, which
    must be reported again). None: parse `after` in full (module docstring)."""
    for name in shape.whole:
        if before.files.get(name) != after.files.get(name):
            return None
    changed: set[str] = set()
    agents: set[str] = set()
    refused_at: dict[str, list[int]] = {}
    for source, row in refused:
        if source in shape.whole:
            continue  # the same bytes, read whole again: its errors come again
        if source not in shape.user_columns:
            return None
        refused_at.setdefault(source, []).append(row)
    for name, columns in shape.user_columns.items():
        old, new = before.files.get(name), after.files.get(name)
        if old is None and new is None:
            continue
        if old is None or new is None:
            return None
        found = _changed_lines(old, new, columns, refused_at.pop(name, []))
        if found is None:
            return None
        now, differing = found
        for line in differing:
            changed.update(now.cell(line, column) for column in columns)
            if name == "users.csv":
                agents.update(split_list(now.cell(line, "agentsourcedids")))
    if refused_at:
        return None  # an error of a member the bundle no longer has
    changed.discard("")
    return UserChanges(frozenset(changed), frozenset(agents))


def line_changes(
    before: bytes, after: bytes, column: str, *, refused_rows: Iterable[int]
) -> tuple[MemberLines, frozenset[str]] | None:
    """For a file of one line per person (a rollsync CSV Students or Staff report): the
    lines of `after`, and the values in `column` of the lines added, removed or changed
    since `before`, named twice by one line, or on a row the earlier run refused
    (`refused_rows`). None: parse `after` in full (module docstring)."""
    found = _changed_lines(before, after, (column,), refused_rows)
    if found is None:
        return None
    now, differing = found
    return now, frozenset(now.cell(line, column) for line in differing) - {""}


def _changed_lines(
    old: bytes, new: bytes, columns: tuple[str, ...], refused_rows: Iterable[int]
) -> tuple[MemberLines, list[bytes]] | None:
    """The new member's lines, and the lines that differ between the two (with the old
    lines of the rows refused); None when they cannot be compared line for line."""
    was, now = member_lines(old, columns), member_lines(new, columns)
    if was is None or now is None or was.lines[0] != now.lines[0]:
        return None
    differing = _differing(was.lines[1:], now.lines[1:])
    for row in refused_rows:
        if not 2 <= row <= len(was.lines):
            return None
        differing.append(was.lines[row - 1])
    return now, differing


def cell_values(lines: list[bytes], column: str) -> list[str]:
    """Each data line's value in `column` (the header first), as the reader reads it."""
    at = header_keys(lines[0]).index(column)
    values: list[str] = []
    for line in lines[1:]:
        cells = _fast_cells(line, at + 1)
        if cells is None:
            values.append(_read_cell(line, at))
        elif _as_is(cells[at]):
            values.append(cells[at].decode())
        else:
            values.append(strip(cells[at].decode()))
    return values


def _differing(old: list[bytes], new: list[bytes]) -> list[bytes]:
    """Lines in one list and not the other, and every line either holds twice."""
    old_set, new_set = set(old), set(new)
    out = list(old_set.symmetric_difference(new_set))
    for lines, unique in ((old, old_set), (new, new_set)):
        if len(unique) < len(lines):
            out += [line for line, n in Counter(lines).items() if n > 1]
    return out


# A listing's role bits, and the version its bytes carry: a listing of another version
# (another reader, or the JSON objects of version 1) is not used.
_ROLE_BITS = {Role.PUPIL: 1, Role.STAFF: 2, Role.CONTACT: 4}
_LISTING_VERSION = 2
_ALL_BITS = sum(_ROLE_BITS.values())
# Each user's bits kept as one digit of a string.
_TO_DIGITS = bytes.maketrans(bytes(range(_ALL_BITS + 1)), b"01234567")
_FROM_DIGITS = bytes.maketrans(b"01234567", bytes(range(_ALL_BITS + 1)))


@dataclass(frozen=True, slots=True)
class Listing:
    """What a read of a bundle found of each user beyond the user's own record: the
    roles in which it listed them (built or left out as unchanged) and the agents their
    users.csv rows name. Kept with an applied run (`encode`), it lets the next read in
    part take only the changed users' users.csv and roles.csv lines: everyone else is
    listed as this says (their lines are the same bytes), and the users a contact link
    joins are found from its agents (docs/performance.md, "A churn read from the
    changed lines"). `ours`: the orgs the read took as the school's."""

    ours: frozenset[str]
    roles: dict[str, int]  # user -> bits of `_ROLE_BITS`
    agents: dict[str, tuple[str, ...]]

    def holding(self, role: Role) -> list[str]:
        """The users listed in `role`."""
        bit = _ROLE_BITS[role]
        return [user for user, bits in self.roles.items() if bits & bit]

    def listed(self) -> Iterator[tuple[Role, str]]:
        """Each (role, user) the listing lists, a role at a time."""
        return chain.from_iterable(zip(repeat(role), self.holding(role)) for role in _ROLE_BITS)

    def without(self, users: frozenset[str]) -> Listing:
        """The listing of everyone but `users` (a few: copied, then taken out)."""
        roles, agents = dict(self.roles), dict(self.agents)
        for user in users:
            roles.pop(user, None)
            agents.pop(user, None)
        return Listing(self.ours, roles, agents)

    def encode(self) -> bytes:
        """Compressed JSON of flat lists, which the json module writes and reads at C
        speed: a 5,000-pupil school's listing (12,572 users) as objects took 19 ms to
        write and 11 to read, a tenth of a churn's read in part; as lists, 4 and 3.
        Agents are joined with commas (`roster.split_list` splits at them, so none holds
        one); a user naming none is left out."""
        bits = bytes(self.roles.values()).translate(_TO_DIGITS).decode("ascii")
        agents = {user: named for user, named in self.agents.items() if named}
        body = [
            _LISTING_VERSION,
            sorted(self.ours),
            list(self.roles),
            bits,
            list(agents),
            list(map(",".join, agents.values())),
        ]
        return zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 1)

    @classmethod
    def decode(cls, data: bytes | None) -> Listing | None:
        """The listing in `data`, or None when there is none this reader can use."""
        if not data:
            return None
        try:
            body = json.loads(zlib.decompress(data))
            if not isinstance(body, list) or len(body) != 6 or body[0] != _LISTING_VERSION:
                return None
            _, ours, users, bits, linked, agents = body
            if not isinstance(bits, str) or not set(bits) <= set("01234567") or "" in agents:
                return None
            if not set(map(type, chain(ours, users, linked, agents))) <= {str}:
                return None
            roles = dict(zip(users, bits.encode("ascii").translate(_FROM_DIGITS), strict=True))
            named = map(tuple, map(str.split, agents, repeat(",")))
            listing = cls(frozenset(ours), roles, dict(zip(linked, named, strict=True)))
        except (zlib.error, ValueError, KeyError, TypeError, AttributeError):
            return None
        if len(listing.roles) != len(users) or len(listing.agents) != len(linked):
            return None  # a user twice: not a listing this code wrote
        return listing


def role_bit(role: Role) -> int:
    return _ROLE_BITS[role]


@dataclass(frozen=True, slots=True)
class GroupLines:
    """What to read of a Groups & Classes file (a line per membership) whose lines are
    compared with an earlier one's (`group_lines`)."""

    keep: list[bool]  # per data line: read it
    left_out: set[tuple[Role, str]]  # the members none of whose lines changed
    firsts: set[int]  # line numbers of each group's first line (the reader names it by it)


_GROUP_COLUMNS = ("group_mis_id", "group_name", "group_kind", "person_role", "person_mis_id")


def group_lines(lines: list[bytes], changed: frozenset[str]) -> GroupLines | None:
    """For a Groups & Classes file's lines (the header first) and the MIS IDs of the
    members to build (`changed`): which lines to read. Read: a line naming one of them,
    or nobody, or whose member type is not one the reader reads (it reports those);
    each group's first line (the group is named by it); and a line whose group name or
    type is not written as its first line writes them (the reader may report it). The
    members of the lines left out are `left_out`, by their member type as the reader
    reads it. None: the file lacks a column this needs (the full parse says so)."""
    names = header_keys(lines[0])
    if not set(_GROUP_COLUMNS) <= set(names):
        return None
    at = [names.index(column) for column in _GROUP_COLUMNS]
    need = max(at) + 1
    at_group, at_name, at_kind, at_role, at_person = at
    changed = frozenset(map(clean, changed))  # as the reader reads an ID
    roles: dict[bytes | str, Role | None] = {}
    first: dict[str, tuple[bytes | str, bytes | str]] = {}
    out = GroupLines([], set(), set())
    for number, line in enumerate(lines[1:], 2):
        cells = _fast_cells(line, need)
        if cells is None:
            text = cells_of(line)
            raw = [text[i] if i < len(text) else "" for i in at]
            group, person = clean(raw[0]), clean(raw[4])
            named: tuple[bytes | str, bytes | str] = (raw[1], raw[2])
            written: bytes | str = raw[3]
        else:
            group, person = _id_of(cells[at_group]), _id_of(cells[at_person])
            named, written = (cells[at_name], cells[at_kind]), cells[at_role]
        if written not in roles:
            roles[written] = _member_role(written)
        role = roles[written]
        # Equal as written: equal as read (a line read one way and its group's first
        # line the other compare unequal, and the line is read: never wrongly left out).
        if group not in first:
            first[group] = named
            out.firsts.add(number)
            keep = True
        else:
            keep = first[group] != named
        if not person or person in changed or role is None:
            keep = True
        else:
            out.left_out.add((role, person))  # read or not, their memberships are not
        out.keep.append(keep)
    return out


def _id_of(cell: bytes) -> str:
    """An ID cell as the reader reads it (`values.clean`)."""
    return cell.decode() if _as_is(cell) else clean(cell.decode())


def _member_role(written: bytes | str) -> Role | None:
    text = written.decode() if isinstance(written, bytes) else written
    try:
        return parse_member_role(text, "")
    except BadValue:
        return None


@dataclass(frozen=True, slots=True)
class ContactLines:
    """What to read of a Contacts file whose lines are compared with an earlier one's
    (`contact_lines`)."""

    keep: list[bool]  # per data line: read it
    left_out: set[tuple[Role, str]]  # the contacts none of whose lines is read
    links: frozenset[tuple[str, str]]  # (contact, pupil) of the lines left out


def contact_lines(
    lines: list[bytes], earlier: list[bytes], changed: frozenset[str], also: frozenset[str]
) -> ContactLines | None:
    """For a Contacts file's lines (the header first, a line per contact and pupil
    linked) and the earlier file's (`earlier`, the same header), the contacts whose
    lines `changed` (by the contact's MIS ID) and the MIS IDs of `also` (people an
    event since named: a contact, or a pupil, whose contacts' links the plan must weigh
    again): per data line whether to read it, the contacts left out and the links their
    lines name. Read: every
    line of a contact in `changed` or `also`, or with a line naming a pupil in `also`,
    or whose lines come in another order than before (the reader builds a contact from
    their lines in order: the first one's details may differ from the next's), and a
    line naming no contact (the reader reports it). None: the file lacks a column this
    needs (the full parse says so)."""
    names = header_keys(lines[0])
    if "mis_id" not in names or "pupil_mis_id" not in names:
        return None
    at_contact, at_pupil = names.index("mis_id"), names.index("pupil_mis_id")
    also = frozenset(map(clean, also))
    build = set(map(clean, changed)) | also
    contacts, pupils = _ids(lines, at_contact, at_pupil)
    build.update(c for c, p in zip(contacts, pupils, strict=True) if p in also)
    # A contact of several lines: the same lines in the same order, or built.
    now = _lines_of_each(contacts, lines)
    [earlier_contacts] = _ids(earlier, at_contact)
    was = _lines_of_each(earlier_contacts, earlier)
    build.update(c for c, theirs in now.items() if len(theirs) > 1 and was.get(c) != theirs)
    keep = [not contact or contact in build for contact in contacts]
    out = [(c, p) for c, p, kept in zip(contacts, pupils, keep, strict=True) if not kept]
    return ContactLines(keep, {(Role.CONTACT, c) for c, _ in out}, frozenset(out))


def _ids(lines: list[bytes], *columns: int) -> list[list[str]]:
    """Each data line's IDs in `columns`, one list per column, as the reader reads an
    ID."""
    need = max(columns) + 1
    out: list[list[str]] = [[] for _ in columns]
    for line in lines[1:]:
        cells = _fast_cells(line, need)
        if cells is None:
            text = cells_of(line)
            for ids, at in zip(out, columns, strict=True):
                ids.append(clean(text[at]) if at < len(text) else "")
        else:
            for ids, at in zip(out, columns, strict=True):
                ids.append(_id_of(cells[at]))
    return out


def _lines_of_each(ids: list[str], lines: list[bytes]) -> dict[str, list[bytes]]:
    """Each ID's data lines, in the file's order."""
    out: dict[str, list[bytes]] = defaultdict(list)
    for found, line in zip(ids, lines[1:], strict=True):
        out[found].append(line)
    return out
