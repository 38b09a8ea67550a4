"""What a bundle read in part must be (`parse_changed` of OneRoster and SDS): the full
parse of the same bundle with the unchanged people's records, memberships and links
taken out, each unchanged person exactly as the earlier upload gave them; and the line
edits the random tests make to a bundle's members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hypothesis import strategies as st

from fuzz.targets import links_of, memberships_of
from rollsync.domain.records import ImportBatch, PersonRecord, Role
from tests.zips import members_of as members_of  # used by the partial tests


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def edited(members: dict[str, bytes], name: str, lines: list[bytes]) -> dict[str, bytes]:
    return {**members, name: b"".join(lines)}


def cells_of(line: bytes) -> list[bytes]:
    return line.rstrip(b"\r\n").split(b",")


def column_of(members: dict[str, bytes], name: str, column: str) -> int:
    header = [c.decode().strip().lower() for c in cells_of(lines_of(members[name])[0])]
    return header.index(column.lower())


def with_cell(line: bytes, at: int, value: bytes) -> bytes:
    cells = cells_of(line)
    cells[at] = value
    return b",".join(cells) + line[len(line.rstrip(b"\r\n")) :]


def pupils_of(members: dict[str, bytes]) -> list[bytes]:
    """The IDs roles.csv gives the student role."""
    at_user = column_of(members, "roles.csv", "userSourcedId")
    return [
        cells_of(line)[at_user]
        for line in lines_of(members["roles.csv"])[1:]
        if b",student," in line
    ]


def a_refusal_then_another_change(
    members: dict[str, bytes],
) -> tuple[dict[str, bytes], dict[str, bytes], int]:
    """An earlier bundle that refuses a pupil (no given name, on users.csv line `n`) and
    a later one that changes somebody else: (earlier, later, n)."""
    lines = lines_of(members["users.csv"])
    at_given = column_of(members, "users.csv", "givenName")
    pupils = set(pupils_of(members))
    n = next(i for i, line in enumerate(lines[1:], 1) if cells_of(line)[0] in pupils)
    lines[n] = with_cell(lines[n], at_given, b"")
    earlier = edited(members, "users.csv", lines)
    later_lines = list(lines)
    m = next(i for i in range(len(lines) - 1, 0, -1) if i != n)
    later_lines[m] = with_cell(later_lines[m], at_given, b"Changed")
    return earlier, edited(earlier, "users.csv", later_lines), n + 1


def _unrowed(record: PersonRecord) -> PersonRecord:
    return replace(record, row=None)


def check_part(
    part: ImportBatch, before: ImportBatch, full: ImportBatch, *, pupils_named: bool = False
) -> None:
    """`part`, a read in part of an upload whose full parse is `full`, against an
    earlier upload whose full parse is `before`. `pupils_named`: the upload lists no
    pupils, only names them in its contacts' links (a Contacts file): a link is then
    the contact's alone."""
    unchanged = part.unchanged_keys
    built = {p.key for p in part.people}
    assert not unchanged & built
    assert not unchanged & part.rejected_keys
    assert {p.key for p in full.people} == built | unchanged
    assert part.people == [p for p in full.people if p.key not in unchanged]
    assert part.memberships == [
        m for m in full.memberships if (m.person_role, m.person_mis_id) not in unchanged
    ]
    halves = [
        (
            (Role.CONTACT, x.contact_mis_id) in unchanged,
            (Role.PUPIL, x.pupil_mis_id) in unchanged or pupils_named,
        )
        for x in full.contact_links
    ]
    if pupils_named:
        assert not any(role is Role.PUPIL for role, _ in unchanged | built)
        halves = [(a, a) for a, _ in halves]
        # The links the contacts left out name, for the planner to check their pupils.
        assert part.unchanged_links == {
            (x.contact_mis_id, x.pupil_mis_id)
            for x in full.contact_links
            if (Role.CONTACT, x.contact_mis_id) in unchanged
        }
    assert all(a == b for a, b in halves), "a link with one end built and one not"
    assert part.contact_links == [
        x for x, (a, _) in zip(full.contact_links, halves, strict=True) if not a
    ]
    for name in (
        "groups",
        "errors",
        "rejected_keys",
        "deletions",
        "complete_for",
        "reports",
        "declared_urn",
        "declared_la_code",
        "declared_estab",
        "rows_read",
        "attendance",
    ):
        assert getattr(part, name) == getattr(full, name), name
    # Each unchanged person is the earlier upload's, with the same memberships and links.
    earlier_people = {p.key: _unrowed(p) for p in before.people}
    now_people = {p.key: _unrowed(p) for p in full.people}
    for key in unchanged:
        assert earlier_people.get(key) == now_people[key], key

    for key in unchanged:
        one = frozenset({key})
        assert memberships_of(before, one) == memberships_of(full, one), key
        assert links_of(before, one) == links_of(full, one), key


VALUES = [
    b"",
    b"X",
    b"Smith",
    b"2030-01-01",
    b"2010-02-03",
    b"student",
    b"teacher",
    b"parent",
    b"guardian",
    b"tobedeleted",
]


@st.composite
def damaged(
    draw: st.DrawFn,
    members: dict[str, bytes],
    row_members: Sequence[str],
    ids_from: str = "users.csv",
) -> dict[str, bytes]:
    """The bundle with a few random line edits in its row members (`ids_from`: the
    member whose first column holds the users' IDs)."""
    out = dict(members)
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from([n for n in row_members if n in out]))
        lines = lines_of(out[name])
        if len(lines) < 3:
            continue
        i = draw(st.integers(1, len(lines) - 1))
        op = draw(
            st.sampled_from(
                [
                    "drop",
                    "repeat",
                    "cell",
                    "copy id",
                    "swap",
                    "new",
                    "agents",
                    "pad",
                    "cut",
                    "user",
                    "overflow",
                    "reverse",
                ]
            )
        )
        cells = cells_of(lines[i])
        header = [c.strip().lower() for c in cells_of(lines[0])]
        at_agents = header.index(b"agentsourcedids") if b"agentsourcedids" in header else -1
        user_ids = [cells_of(line)[0] for line in lines_of(out[ids_from])[1:]]
        if op == "agents" and 0 <= at_agents < len(cells) and b'"' not in lines[i]:
            # Whose contact this user is (or who theirs are): IDs of other users (on a
            # line not cut short before that column).
            at = at_agents
            ids = [
                cells_of(line)[0] for line in draw(st.lists(st.sampled_from(lines[1:]), max_size=3))
            ]
            lines[i] = with_cell(lines[i], at, b'"' + b",".join(ids) + b'"')
        elif op == "user" and user_ids:
            # Another user's ID in any cell: a relationship or enrollment moved to them.
            at = draw(st.integers(0, len(cells) - 1))
            lines[i] = with_cell(lines[i], at, draw(st.sampled_from(user_ids)))
        elif op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(draw(st.integers(1, len(lines))), lines[i])
        elif op == "cell":
            at = draw(st.integers(0, len(cells) - 1))
            lines[i] = with_cell(lines[i], at, draw(st.sampled_from(VALUES)))
        elif op == "pad":
            # The same value as the reader reads it, written otherwise: padded, quoted,
            # or in another case (a role).
            at = draw(st.integers(0, len(cells) - 1))
            value = cells[at]
            padded = [b" " + value, value + b" ", b'"' + value + b'"', b'" ' + value + b'"']
            written = draw(st.sampled_from([*padded, value.upper(), value.capitalize()]))
            lines[i] = with_cell(lines[i], at, written)
        elif op == "reverse":
            # The same lines in the other order: a set of lines that did not change,
            # whose order must not decide anyone's record.
            lines[1:] = lines[:0:-1]
        elif op == "overflow":
            # A value more than the header has: the reader skips the row, and says so.
            end = lines[i][len(lines[i].rstrip(b"\r\n")) :]
            lines[i] = lines[i].rstrip(b"\r\n") + b",extra" + end
        elif op == "cut":
            end = lines[i][len(lines[i].rstrip(b"\r\n")) :]
            lines[i] = b",".join(cells[: draw(st.integers(0, len(cells) - 1))]) + end
        elif op == "copy id":
            j = draw(st.integers(1, len(lines) - 1))
            lines[i] = with_cell(lines[i], 0, cells_of(lines[j])[0])
        elif op == "swap":
            j = draw(st.integers(1, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.append(with_cell(lines[i], 0, b"new-" + str(i).encode()))
        out[name] = b"".join(lines)
    return out


def check_members_part(part: ImportBatch, before: ImportBatch, full: ImportBatch) -> None:
    """`part`, a Groups & Classes file read in part (it lists no people: its unchanged
    members are those whose memberships are left out), against the full parses of it
    (`full`) and of the earlier file (`before`)."""
    unchanged = part.unchanged_keys
    assert part.people == [] == full.people
    members = {(m.person_role, m.person_mis_id) for m in full.memberships}
    assert unchanged <= members, "a member left out who is no member"
    assert part.memberships == [
        m for m in full.memberships if (m.person_role, m.person_mis_id) not in unchanged
    ]
    for name in ("groups", "errors", "rejected_keys", "complete_for", "reports", "rows_read"):
        assert getattr(part, name) == getattr(full, name), name

    def memberships(batch: ImportBatch, key: tuple[Role, str]) -> list[tuple[str, str]]:
        return sorted(
            (m.group_mis_id, m.role.value)
            for m in batch.memberships
            if (m.person_role, m.person_mis_id) == key
        )

    listed_before = {g.mis_id for g in before.groups}
    for key in unchanged:
        assert memberships(before, key) == memberships(full, key), key
        assert {group for group, _ in memberships(full, key)} <= listed_before, key
