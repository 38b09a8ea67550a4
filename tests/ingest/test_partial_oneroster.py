"""A OneRoster bundle read in part (`OneRosterReader.parse_changed`): only the users
whose rows changed since an earlier upload are built, everyone else it lists is named
in `unchanged_keys`. The partial batch must equal the full parse of the same bundle
with the unchanged people's records, memberships and links taken out, and each
unchanged person must be exactly as the earlier upload gave them: checked here against
the full parse on a simulated school, on each kind of change, and on random damage of
both uploads (hypothesis)."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollsync import ingest
from rollsync.domain.records import ImportBatch, Role
from rollsync.domain.state import SchoolRef
from rollsync.ingest.oneroster import OneRosterReader
from rollsync.ingest.row_changes import Listing, role_bit
from rollsync.simulate import make_school_truth, write_school_export
from tests.zips import zip_members

from .partial_checks import (
    a_refusal_then_another_change,
    cells_of,
    check_part,
    column_of,
    damaged,
    edited,
    lines_of,
    members_of,
    with_cell,
)

TODAY = date(2026, 9, 10)
ROW_MEMBERS = ("users.csv", "demographics.csv", "roles.csv", "enrollments.csv")


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> tuple[SchoolRef, dict[str, bytes]]:
    truth = make_school_truth(pupils=40, seed=5)
    folder: Path = tmp_path_factory.mktemp("oneroster")
    [entry] = write_school_export(truth, 1, "oneroster", folder)
    ref = SchoolRef(urn=truth.urn, la_code=truth.la_code, estab=truth.estab)
    return ref, members_of((folder / entry.path).read_bytes())


@pytest.fixture(scope="module")
def school11(school: tuple[SchoolRef, dict[str, bytes]]) -> tuple[SchoolRef, dict[str, bytes]]:
    """The same school as a OneRoster 1.1 bundle: each user's role and orgs are columns
    of users.csv (the first role roles.csv gives them), and there is no roles.csv."""
    ref, members = school
    at_user, at_role, at_org = (
        column_of(members, "roles.csv", name) for name in ("userSourcedId", "role", "orgSourcedId")
    )
    roles: dict[bytes, tuple[bytes, list[bytes]]] = {}
    for line in lines_of(members["roles.csv"])[1:]:
        cells = cells_of(line)
        roles.setdefault(cells[at_user], (cells[at_role], []))[1].append(cells[at_org])
    users = lines_of(members["users.csv"])
    lines = [users[0].rstrip(b"\r\n") + b",role,orgSourcedIds\r\n"]
    for line in users[1:]:
        role, orgs = roles.get(cells_of(line)[0], (b"", []))
        lines.append(line.rstrip(b"\r\n") + b"," + role + b',"' + b",".join(orgs) + b'"\r\n')
    manifest = (
        members["manifest.csv"]
        .replace(b"oneroster.version,1.2", b"oneroster.version,1.1")
        .replace(b"file.roles,bulk", b"file.roles,absent")
    )
    assert manifest.count(b"1.1") and manifest.count(b"file.roles,absent")
    out = {name: data for name, data in members.items() if name != "roles.csv"}
    return ref, {**out, "users.csv": b"".join(lines), "manifest.csv": manifest}


def _full(payload: bytes, ref: SchoolRef) -> ImportBatch:
    return ingest.parse_upload(payload, fmt="oneroster", school=ref, today=TODAY)


def check_partial(earlier: bytes, payload: bytes, ref: SchoolRef) -> ImportBatch | None:
    """The partial read of `payload` against `earlier`, with and without the earlier
    full read's listing, each checked against the full parses of both; None when it fell
    back to a full parse. Returns the read from the listing. (Each read in part leaves
    the full read's listing, so a night read from a listing read in part is covered.)"""
    before = _full(earlier, ref)
    refused = [(e.source, e.row) for e in before.errors if e.row is not None]
    read = OneRosterReader().parse_changed
    whole = read(earlier, payload, school=ref, refused=refused, today=TODAY)
    if whole is None:
        return None
    _check_part(whole, before, payload, ref)
    assert before.listing is not None
    part = read(earlier, payload, school=ref, refused=refused, listing=before.listing, today=TODAY)
    assert part is not None
    _check_part(part, before, payload, ref)
    return part


def _check_part(part: ImportBatch, before: ImportBatch, payload: bytes, ref: SchoolRef) -> None:
    full = _full(payload, ref)
    # The listing a read in part leaves for the next is the full read's.
    assert Listing.decode(part.listing) == Listing.decode(full.listing)
    check_part(part, before, full)


def test_the_same_bundle_builds_nobody(school: tuple[SchoolRef, dict[str, bytes]]) -> None:
    ref, members = school
    payload = zip_members(members)
    part = check_partial(payload, payload, ref)
    assert part is not None
    assert part.people == [] and part.memberships == [] and part.contact_links == []
    assert len(part.unchanged_keys) == len(_full(payload, ref).people)


def test_a_renamed_pupil_is_built_with_their_contacts_and_nobody_else(
    school: tuple[SchoolRef, dict[str, bytes]],
) -> None:
    ref, members = school
    lines = lines_of(members["users.csv"])
    at_family = column_of(members, "users.csv", "familyName")
    at_agents = column_of(members, "users.csv", "agentSourcedIds")
    # A pupil with contacts: their row names agents.
    n = next(i for i, line in enumerate(lines[1:], 1) if cells_of(line)[at_agents].strip(b'"'))
    pupil_id = cells_of(lines[n])[0].decode()
    lines[n] = with_cell(lines[n], at_family, b"Renamed")
    part = check_partial(
        zip_members(members), zip_members(edited(members, "users.csv", lines)), ref
    )
    assert part is not None
    built = {p.mis_id for p in part.people}
    assert pupil_id in built
    assert {p.role for p in part.people} == {Role.PUPIL, Role.CONTACT}
    assert len(part.people) < 8  # the pupil and their family, not the school
    assert part.contact_links and all(x.pupil_mis_id in built for x in part.contact_links)


def test_a_removed_pupil_is_not_listed(school: tuple[SchoolRef, dict[str, bytes]]) -> None:
    ref, members = school
    lines = lines_of(members["users.csv"])
    full = _full(zip_members(members), ref)
    pupil = next(p for p in full.people if p.role is Role.PUPIL)
    kept = [line for line in lines if not line.startswith(pupil.mis_id.encode() + b",")]
    assert len(kept) == len(lines) - 1
    part = check_partial(zip_members(members), zip_members(edited(members, "users.csv", kept)), ref)
    assert part is not None
    assert pupil.key not in part.unchanged_keys
    assert pupil.key not in {p.key for p in part.people}


def test_a_changed_enrollment_builds_its_pupil_only(
    school: tuple[SchoolRef, dict[str, bytes]],
) -> None:
    ref, members = school
    lines = lines_of(members["enrollments.csv"])
    at_user = column_of(members, "enrollments.csv", "userSourcedId")
    user = cells_of(lines[1])[at_user].decode()
    part = check_partial(
        zip_members(members),
        zip_members(edited(members, "enrollments.csv", [lines[0], *lines[2:]])),
        ref,
    )
    assert part is not None
    assert user in {p.mis_id for p in part.people}
    assert any(m.person_mis_id == user for m in part.memberships)


def test_enrollments_written_otherwise_are_left_out_with_their_unchanged_pupil(
    school: tuple[SchoolRef, dict[str, bytes]],
) -> None:
    """An unchanged pupil's enrollment lines, padded, quoted or with the role in
    capitals (the same values to the reader), are the same in both uploads: left out
    with the pupil, whether the fast split or the csv module reads them."""
    ref, members = school
    lines = lines_of(members["enrollments.csv"])
    at_user = column_of(members, "enrollments.csv", "userSourcedId")
    at_role = column_of(members, "enrollments.csv", "role")
    users = {cells_of(line)[at_user] for line in lines[1:4]}
    written = [b" {} ", b'"{}"', b'" {}"']
    for n in range(1, 4):
        user = cells_of(lines[n])[at_user]
        lines[n] = with_cell(lines[n], at_user, written[n - 1].replace(b"{}", user))
        lines[n] = with_cell(lines[n], at_role, b" " + cells_of(lines[n])[at_role].upper())
    earlier = edited(members, "enrollments.csv", lines)
    later = edited(earlier, "users.csv", lines_of(members["users.csv"])[:-1])
    part = check_partial(zip_members(earlier), zip_members(later), ref)
    assert part is not None
    built = {p.mis_id for p in part.people}
    assert not built & {u.decode() for u in users}
    assert not {m.person_mis_id for m in part.memberships} & {u.decode() for u in users}
    assert {u for _, u in part.unchanged_keys} >= {u.decode() for u in users}


def test_a_row_refused_before_is_read_again(school: tuple[SchoolRef, dict[str, bytes]]) -> None:
    # The earlier upload refused a pupil (no given name); the new one changes someone
    # else: the refusal is reported again, with its row, as the full parse reports it.
    ref, members = school
    earlier, later, line = a_refusal_then_another_change(members)
    part = check_partial(zip_members(earlier), zip_members(later), ref)
    assert part is not None
    assert any(e.row == line and e.source == "users.csv" for e in part.errors)


def test_two_contact_roles_that_disagree_read_in_the_other_order(
    school: tuple[SchoolRef, dict[str, bytes]],
) -> None:
    # Found by attacking the read in part (the SDS reader had the like): a contact given
    # two contact roles (parent, relative) takes the first for their links; the same
    # lines in the other order are the same set of lines, so the contact and their
    # pupils looked unchanged while the full parse gave their links another
    # relationship. The second role is now reported, so the earlier run refused that
    # row and the next read builds the contact and their family again.
    ref, members = school
    lines = lines_of(members["roles.csv"])
    n = next(i for i, line in enumerate(lines) if b",parent," in line)
    other = with_cell(lines[n], column_of(members, "roles.csv", "role"), b"relative")
    earlier = edited(members, "roles.csv", [*lines[: n + 1], other, *lines[n + 1 :]])
    later = edited(members, "roles.csv", [*lines[:n], other, lines[n], *lines[n + 1 :]])
    for payload, row in ((earlier, n + 2), (later, n + 2)):
        [error] = [e for e in _full(zip_members(payload), ref).errors if e.source == "roles.csv"]
        assert error.row == row and f"row {n + 1}" in error.message, error
    part = check_partial(zip_members(earlier), zip_members(later), ref)
    assert part is not None
    contact = cells_of(lines[n])[column_of(members, "roles.csv", "userSourcedId")].decode()
    assert (Role.CONTACT, contact) in {p.key for p in part.people}


def test_a_deleted_pupils_enrollments_are_read_as_the_full_parse_reads_them(
    school: tuple[SchoolRef, dict[str, bytes]],
) -> None:
    # Found by the random test: a pupil whose users.csv row says tobedeleted (in a bulk
    # file: not listed) still has enrollments, which the full parse reads; a read in part
    # without a listing took them for an unchanged pupil's and left them out.
    ref, members = school
    users = lines_of(members["users.csv"])
    at_status = column_of(members, "users.csv", "status")
    enrolled = {
        cells_of(line)[column_of(members, "enrollments.csv", "userSourcedId")]
        for line in lines_of(members["enrollments.csv"])[1:]
    }
    n = next(i for i, line in enumerate(users[1:], 1) if cells_of(line)[0] in enrolled)
    users[n] = with_cell(users[n], at_status, b"tobedeleted")
    earlier = edited(members, "users.csv", users)
    later = edited(earlier, "users.csv", [*users[:-1]])
    full = _full(zip_members(later), ref)
    pupil = cells_of(users[n])[0].decode()
    assert pupil not in {p.mis_id for p in full.people}
    assert any(m.person_mis_id == pupil for m in full.memberships)
    assert check_partial(zip_members(earlier), zip_members(later), ref) is not None


def test_a_teacher_enrolled_as_a_student_keeps_that_enrollment(
    school: tuple[SchoolRef, dict[str, bytes]],
) -> None:
    # Found by the random test: a member of staff nobody changed, but one enrollment
    # names them as a student. Their staff memberships are left out with them; the
    # student one names nobody listed as unchanged (a pupil of that ID), so it is read,
    # as the full parse reads it (the planner reports it).
    ref, members = school
    lines = lines_of(members["enrollments.csv"])
    at_role = column_of(members, "enrollments.csv", "role")
    n = next(i for i, line in enumerate(lines) if b",teacher," in line)
    lines[n] = with_cell(lines[n], at_role, b"student")
    both = zip_members(edited(members, "enrollments.csv", lines))
    users = lines_of(members["users.csv"])
    at_family = column_of(members, "users.csv", "familyName")
    users[2] = with_cell(users[2], at_family, b"Renamed")
    part = check_partial(both, zip_members(edited(members_of(both), "users.csv", users)), ref)
    assert part is not None
    teacher = cells_of(lines[n])[column_of(members, "enrollments.csv", "userSourcedId")].decode()
    assert [m.person_role for m in part.memberships if m.person_mis_id == teacher] == [Role.PUPIL]


def test_with_a_listing_the_rows_of_users_left_out_are_not_read(
    school: tuple[SchoolRef, dict[str, bytes]],
) -> None:
    # A listing that (falsely) holds a pupil as staff: the read in part lists them as
    # staff, so it did not read their rows. A listing of other orgs is not used: the
    # rows are read and the pupil is listed as a pupil.
    ref, members = school
    payload = zip_members(members)
    full = _full(payload, ref)
    listing = Listing.decode(full.listing)
    assert listing is not None
    pupil = next(p.mis_id for p in full.people if p.role is Role.PUPIL)
    forged = replace(listing, roles={**listing.roles, pupil: role_bit(Role.STAFF)})
    read = OneRosterReader().parse_changed
    part = read(payload, payload, school=ref, refused=[], listing=forged.encode(), today=TODAY)
    assert part is not None and part.people == []
    assert (Role.STAFF, pupil) in part.unchanged_keys
    assert (Role.PUPIL, pupil) not in part.unchanged_keys
    elsewhere = replace(forged, ours=frozenset({"another-org"}))
    part = read(payload, payload, school=ref, refused=[], listing=elsewhere.encode(), today=TODAY)
    assert part is not None
    assert part.unchanged_keys == {p.key for p in full.people}
    for unusable in (b"", b"not zlib", zlib.compress(b'{"v": 0}')):
        part = read(payload, payload, school=ref, refused=[], listing=unusable, today=TODAY)
        assert part is not None and part.unchanged_keys == {p.key for p in full.people}


def test_a_listing_reads_back_as_written_and_nothing_else_is_taken_for_one() -> None:
    listing = Listing(
        frozenset({"org-1", 'org "2"'}),
        {"u1": 1, "u,2": 2, 'u"3\\': 4, "élève": 5, "u5": 7},
        {"u1": ("c1", "c2"), "élève": ("c3",), "u5": ()},
    )
    back = Listing.decode(listing.encode())
    # A user naming no agent is left out: the same links either way.
    assert back == replace(listing, agents={"u1": ("c1", "c2"), "élève": ("c3",)})
    listed = {(Role.PUPIL, "u1"), (Role.STAFF, "u,2"), (Role.CONTACT, 'u"3\\')}
    listed |= {(Role.PUPIL, "élève"), (Role.CONTACT, "élève")}
    listed |= {(role, "u5") for role in (Role.PUPIL, Role.STAFF, Role.CONTACT)}
    assert sorted(back.listed()) == sorted(listed)
    assert back.holding(Role.STAFF) == ["u,2", "u5"]

    def packed(body: object) -> bytes:
        return zlib.compress(json.dumps(body).encode())

    good = [2, ["org-1"], ["u1", "u2"], "13", ["u1"], ["c1,c2"]]
    assert Listing.decode(packed(good)) == Listing(
        frozenset({"org-1"}), {"u1": 1, "u2": 3}, {"u1": ("c1", "c2")}
    )
    unusable = [
        {"v": 1, "ours": ["org-1"], "roles": {"u1": 1}, "agents": {}},  # an older version's
        [1, *good[1:]],
        good[:5],
        [2, ["org-1"], ["u1", "u2"], "1", ["u1"], ["c1,c2"]],  # a user without bits
        [2, ["org-1"], ["u1"], "13", ["u1"], ["c1,c2"]],  # bits without a user
        [2, ["org-1"], ["u1", "u2"], "18", ["u1"], ["c1,c2"]],  # no such bit
        [2, ["org-1"], ["u1", "u1"], "13", ["u1"], ["c1,c2"]],  # a user twice
        [2, ["org-1"], ["u1", "u2"], "13", ["u1", "u1"], ["c1", "c2"]],  # linked twice
        [2, ["org-1"], ["u1", "u2"], "13", ["u1"], ["c1", "c2"]],  # agents without a user
        [2, ["org-1"], ["u1", "u2"], "13", ["u1"], [""]],  # an empty agent
        [2, ["org-1"], ["u1", 2], "13", ["u1"], ["c1,c2"]],  # not a string
        [2, ["org-1"], ["u1", "u2"], 13, ["u1"], ["c1,c2"]],
        [2, None, ["u1", "u2"], "13", ["u1"], ["c1,c2"]],
        "not a listing",
    ]
    for body in unusable:
        assert Listing.decode(packed(body)) is None, body


def test_a_delta_bundle_leaves_no_listing(school: tuple[SchoolRef, dict[str, bytes]]) -> None:
    # A delta users file lists only changes: no listing of who the bundle lists.
    ref, members = school
    manifest = members["manifest.csv"].replace(b"file.users,bulk", b"file.users,delta")
    assert manifest != members["manifest.csv"]
    assert _full(zip_members(members), ref).listing is not None
    assert _full(zip_members({**members, "manifest.csv": manifest}), ref).listing is None


@pytest.mark.parametrize("member", ["demographics.csv", "users.csv", "roles.csv"])
def test_a_line_naming_nobody_is_read_as_the_full_parse_reads_it(
    school: tuple[SchoolRef, dict[str, bytes]], member: str
) -> None:
    # Found by the random test: a demographics line cut short, its sourcedId emptied,
    # is reported by the full parse (too few values); a read in part that took only the
    # lines of the users it builds lost the error. Lines naming nobody are always read.
    ref, members = school
    lines = lines_of(members[member])
    at = column_of(members, member, _USER_COLUMN[member])
    cells = cells_of(lines[3])[: at + 4]
    cells[at] = b""
    lines[3] = b",".join(cells) + b"\r\n"
    later = edited(members, member, lines)
    full = _full(zip_members(later), ref)
    assert any(e.source == member and e.row == 4 for e in full.errors)
    part = check_partial(zip_members(members), zip_members(later), ref)
    assert part is not None
    assert [e for e in part.errors if e.source == member] == [
        e for e in full.errors if e.source == member
    ]


_USER_COLUMN = {
    "demographics.csv": "sourcedId",
    "users.csv": "sourcedId",
    "roles.csv": "userSourcedId",
}


@pytest.mark.parametrize(
    "damage",
    [
        "classes changed",
        "header changed",
        "no last line end",
        "lone carriage return",
        "a value over two lines",
        "not utf-8",
        "error in an unknown place",
    ],
)
def test_what_cannot_be_compared_line_for_line_is_parsed_in_full(
    school: tuple[SchoolRef, dict[str, bytes]], damage: str
) -> None:
    ref, members = school
    users = lines_of(members["users.csv"])
    refused: list[tuple[str | None, int]] = []
    if damage == "classes changed":
        changed = {**members, "classes.csv": members["classes.csv"] + members["classes.csv"][-1:]}
    elif damage == "header changed":
        changed = edited(members, "users.csv", [users[0].replace(b"givenName", b"GivenName")])
    elif damage == "no last line end":
        changed = edited(members, "users.csv", [*users[:-1], users[-1].rstrip(b"\r\n")])
    elif damage == "lone carriage return":
        changed = edited(members, "users.csv", [*users[:-1], users[-1].rstrip(b"\n") + b"\r"])
    elif damage == "a value over two lines":
        changed = edited(members, "users.csv", [*users, b'x,"a\n', b'b",c\n'])
    elif damage == "not utf-8":
        changed = edited(members, "users.csv", [*users[:-1], users[-1].replace(b"a", b"\xe9", 1)])
    else:
        changed, refused = members, [(None, 3)]
    assert (
        OneRosterReader().parse_changed(
            zip_members(members), zip_members(changed), school=ref, refused=refused, today=TODAY
        )
        is None
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_changes_read_in_part_equal_the_full_parse(
    school: tuple[SchoolRef, dict[str, bytes]], data: st.DataObject
) -> None:
    ref, members = school
    earlier = data.draw(damaged(members, ROW_MEMBERS))
    later = data.draw(damaged(earlier, ROW_MEMBERS))
    check_partial(zip_members(earlier), zip_members(later), ref)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_changes_to_a_1_1_bundle_read_in_part_equal_the_full_parse(
    school11: tuple[SchoolRef, dict[str, bytes]], data: st.DataObject
) -> None:
    # OneRoster 1.1: the roles are read from users.csv itself, only the lines of the
    # users built, when the earlier read's listing is there.
    ref, members = school11
    assert len(_full(zip_members(members), ref).people) > 40
    earlier = data.draw(damaged(members, ROW_MEMBERS))
    later = data.draw(damaged(earlier, ROW_MEMBERS))
    check_partial(zip_members(earlier), zip_members(later), ref)
