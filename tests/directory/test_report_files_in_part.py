"""A rollsync CSV Groups & Classes or Contacts file read in part (issue 13, point 1): a
night's file that differs from the last applied one in a few lines reads only the
memberships of the members whose lines changed (the contacts whose lines changed), and
of those whose accounts an event since touched; its run must do what a full plan of the
same bytes does (a dry run, made first).

The case the reader cannot see: a member (a contact's pupil) whose lines are the same
bytes, whose place here the Students file changed since (gone, then back). Their
memberships (links) must follow the place, as the whole file's plan would have them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from rollsync import ingest
from rollsync.directory import models as m
from rollsync.directory.services.sync import sync_run_execute
from rollsync.directory.services.uploads import upload_store
from rollsync.simulate import make_school_truth, write_school_export
from tests.directory.helpers import Compared, simulated_school

DAY1 = date(2026, 9, 7)


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Each Groups or Contacts file read in part: ("part", memberships or contacts
    read), or ("full?", 0)."""
    seen: list[tuple[str, int]] = []
    part = ingest.parse_changed

    def recorded(earlier: bytes, payload: bytes, **kw: Any) -> Any:
        batch = part(earlier, payload, **kw)
        report = kw.get("report")
        if report in ("groups", "contacts"):
            n = 0 if batch is None else len(batch.memberships) + len(batch.people)
            seen.append(("full?", 0) if batch is None else ("part", n))
        return batch

    monkeypatch.setattr(ingest, "parse_changed", recorded)
    yield seen


@pytest.fixture
def files(db: Any, tmp_path: Path) -> tuple[m.School, dict[str, bytes]]:
    truth = make_school_truth(pupils=60, seed=9)
    entries = write_school_export(truth, 1, "csv", tmp_path)
    school = simulated_school(truth)
    return school, {e.report: (tmp_path / e.path).read_bytes() for e in entries}


def _as_a_full_plan(school: m.School, report: str, payload: bytes, day: date) -> m.SyncRun:
    def stored() -> m.Upload:
        return upload_store(school=school, payload=payload, fmt="csv", report=report, source="t")

    preview = sync_run_execute(upload=stored(), as_of=day, dry_run=True)
    done = sync_run_execute(upload=stored(), as_of=day)
    assert done.status == "applied", (report, done.status, done.errors, done.holds)
    assert done.same_as_id is None, report
    assert (done.counts, done.errors, done.holds) == (preview.counts, preview.errors, preview.holds)
    # (A Students file read in part lists only the people it built.)
    assert [a for a in done.actions if not _quiet(a)] == [
        a for a in preview.actions if not _quiet(a)
    ]
    return done


def _quiet(action: dict[str, Any]) -> bool:
    return action["kind"] == "unchanged" and not action.get("changes")


def _first_night(school: m.School, by_report: dict[str, bytes], reports: tuple[str, ...]) -> None:
    for report in reports:
        _as_a_full_plan(school, report, by_report[report], DAY1)


def _lines(payload: bytes) -> list[bytes]:
    return payload.splitlines(keepends=True)


def _pupil_lines(payload: bytes, mis_id: str) -> list[bytes]:
    return [
        line for line in _lines(payload)[1:] if line.split(b",")[3:5] == [b"pupil", mis_id.encode()]
    ]


def _groups_of(school: m.School, mis_id: str) -> list[str]:
    place = m.Allocation.objects.get(school=school, mis_id=mis_id, role="pupil")
    return sorted(
        m.GroupMembership.objects.filter(
            account_id=place.account_id, ended_at__isnull=True
        ).values_list("group__mis_id", flat=True)
    )


def _without_line(payload: bytes, line: bytes) -> bytes:
    lines = _lines(payload)
    lines.remove(line)
    return b"".join(lines)


def test_a_night_changing_a_few_memberships_reads_them_alone(
    files: tuple[m.School, dict[str, bytes]], read: list[tuple[str, int]]
) -> None:
    school, by_report = files
    _first_night(school, by_report, ("students", "staff", "groups"))
    assert read == []  # nothing to stand on yet
    pupil = _lines(by_report["students"])[5].split(b",")[0].decode()
    dropped = _pupil_lines(by_report["groups"], pupil)[0]
    night = _as_a_full_plan(
        school, "groups", _without_line(by_report["groups"], dropped), DAY1 + timedelta(days=1)
    )
    assert night.read_in_part and night.counts["unchanged"] == 0
    assert read == [("part", len(_pupil_lines(by_report["groups"], pupil)) - 1)]
    assert night.counts["memberships_ended"] == 1 and "memberships_added" not in night.counts
    assert dropped.split(b",")[0].decode() not in _groups_of(school, pupil)


def test_a_pupil_gone_and_back_gets_their_memberships_back_though_their_lines_never_changed(
    files: tuple[m.School, dict[str, bytes]], read: list[tuple[str, int]]
) -> None:
    school, by_report = files
    _first_night(school, by_report, ("students", "staff", "groups"))
    students = _lines(by_report["students"])
    leaver_line = students[7]
    leaver = leaver_line.split(b",")[0].decode()
    theirs = sorted(
        line.split(b",")[0].decode() for line in _pupil_lines(by_report["groups"], leaver)
    )
    assert _groups_of(school, leaver) == theirs and len(theirs) > 2
    # Night 2: the MIS lets them go, but its Groups file still names them (a lag); a
    # membership of someone else changes, so the file is read in part.
    other = students[3].split(b",")[0].decode()
    groups2 = _without_line(by_report["groups"], _pupil_lines(by_report["groups"], other)[0])
    day2 = DAY1 + timedelta(days=1)
    _as_a_full_plan(school, "students", _without_line(by_report["students"], leaver_line), day2)
    night2 = _as_a_full_plan(school, "groups", groups2, day2)
    assert night2.read_in_part
    # Night 3: they are back; the Groups file is the same bytes as night 2's.
    day3 = day2 + timedelta(days=1)
    _as_a_full_plan(school, "students", by_report["students"], day3)
    read.clear()
    night3 = _as_a_full_plan(school, "groups", groups2, day3)
    assert night3.read_in_part
    [(how, memberships)] = read
    assert how == "part" and memberships >= len(theirs)  # theirs read: an event named them
    assert night3.counts["memberships_added"] == len(theirs)  # ended when they left
    assert _groups_of(school, leaver) == theirs


def test_a_case_opened_since_by_the_students_file_does_not_stop_a_read_in_part(
    files: tuple[m.School, dict[str, bytes]], read: list[tuple[str, int]]
) -> None:
    # A doubtful starter (another pupil's name and birthday, a MIS ID of their own)
    # waits to be matched: the event names no account. The Groups file names them in
    # a class: that line is new, so read, and reported as the full plan reports it.
    school, by_report = files
    _first_night(school, by_report, ("students", "staff", "groups"))
    students = _lines(by_report["students"])
    twin = students[4].split(b",")[0]
    starter = students[4].replace(twin + b",", b"ASK1,", 1)
    day2 = DAY1 + timedelta(days=1)
    _as_a_full_plan(school, "students", b"".join([*students, starter]), day2)
    assert m.MatchCase.objects.filter(school=school, status="open").count() == 1
    their_line = _pupil_lines(by_report["groups"], twin.decode())[0].replace(
        b"," + twin + b",", b",ASK1,"
    )
    night = _as_a_full_plan(school, "groups", by_report["groups"] + their_line, day2)
    assert night.read_in_part and read == [("part", 1)]
    assert [e["field"] for e in night.errors] == ["person_mis_id"]
    assert "ASK1" in night.errors[0]["message"]


def test_a_membership_held_by_a_contact_is_ended_as_a_full_plan_ends_it(
    files: tuple[m.School, dict[str, bytes]],
    read: list[tuple[str, int]],
    compare_every_plan: Compared,
) -> None:
    # The snapshot of a Groups & Classes file holds pupils and staff, not contacts: a
    # membership some other way left on an account placed here only as a contact is
    # read apart, and ended, as the whole file's plan ends it.
    school, by_report = files
    _first_night(school, by_report, ("students", "staff", "contacts", "groups"))
    contact = m.Allocation.objects.filter(school=school, role="contact").first()
    assert contact is not None
    assert not m.Allocation.objects.filter(account_id=contact.account_id).exclude(role="contact")
    group = m.Group.objects.filter(school=school).first()
    assert group is not None
    m.GroupMembership.objects.create(group=group, account_id=contact.account_id, role="student")
    pupil = _lines(by_report["students"])[5].split(b",")[0].decode()
    dropped = _pupil_lines(by_report["groups"], pupil)[0]
    night = _as_a_full_plan(
        school, "groups", _without_line(by_report["groups"], dropped), DAY1 + timedelta(days=1)
    )
    assert night.read_in_part and read == [
        ("part", len(_pupil_lines(by_report["groups"], pupil)) - 1)
    ]
    assert night.counts["memberships_ended"] == 2  # the dropped line's, and the contact's
    assert not m.GroupMembership.objects.filter(
        account_id=contact.account_id, ended_at__isnull=True
    ).exists()
    assert compare_every_plan.fewer_memberships >= 1  # the night read theirs alone


# -- Contacts --------------------------------------------------------------------------


def _contact_lines_of(payload: bytes, pupil: str) -> list[bytes]:
    return [line for line in _lines(payload)[1:] if line.split(b",")[3] == pupil.encode()]


def _links_of(school: m.School, pupil: str) -> list[str]:
    """The MIS IDs here of the contacts linked to `pupil` (links not ended)."""
    place = m.Allocation.objects.get(school=school, mis_id=pupil, role="pupil")
    contacts = m.ContactLink.objects.filter(
        school=school, pupil_id=place.account_id, ended_at__isnull=True
    ).values("contact_id")
    return sorted(
        m.Allocation.objects.filter(
            school=school, role="contact", account_id__in=contacts
        ).values_list("mis_id", flat=True)
    )


def test_a_night_changing_one_contact_reads_that_contact_alone(
    files: tuple[m.School, dict[str, bytes]], read: list[tuple[str, int]]
) -> None:
    school, by_report = files
    _first_night(school, by_report, ("students", "staff", "contacts"))
    lines = _lines(by_report["contacts"])
    lines[3] = lines[3].replace(b"07700 9", b"07700 8", 1)
    assert lines[3] != _lines(by_report["contacts"])[3]
    night = _as_a_full_plan(school, "contacts", b"".join(lines), DAY1 + timedelta(days=1))
    assert night.read_in_part and read == [("part", 1)]
    assert night.counts["updated"] == 1 and night.counts["unchanged"] > 50


def test_a_pupil_gone_and_back_has_their_contacts_linked_again(
    files: tuple[m.School, dict[str, bytes]], read: list[tuple[str, int]]
) -> None:
    # The MIS lets a pupil go, but its Contacts file still links them (a lag): the
    # links end with the place, and come back with it, though no line of theirs changed.
    school, by_report = files
    _first_night(school, by_report, ("students", "staff", "contacts"))
    students = _lines(by_report["students"])
    leaver_line = next(
        line
        for line in students[1:]
        if _contact_lines_of(by_report["contacts"], line.split(b",")[0].decode())
    )
    leaver = leaver_line.split(b",")[0].decode()
    theirs = sorted(
        line.split(b",")[0].decode() for line in _contact_lines_of(by_report["contacts"], leaver)
    )
    assert _links_of(school, leaver) == theirs
    contacts = _lines(by_report["contacts"])
    other = next(
        i for i, line in enumerate(contacts) if i and line.split(b",")[3] != leaver.encode()
    )
    contacts[other] = contacts[other].replace(b"07700 9", b"07700 8", 1)
    contacts2 = b"".join(contacts)
    day2 = DAY1 + timedelta(days=1)
    _as_a_full_plan(school, "students", _without_line(by_report["students"], leaver_line), day2)
    night2 = _as_a_full_plan(school, "contacts", contacts2, day2)
    assert night2.read_in_part
    assert _links_of(school, leaver) == []
    day3 = day2 + timedelta(days=1)
    _as_a_full_plan(school, "students", by_report["students"], day3)
    read.clear()
    night3 = _as_a_full_plan(school, "contacts", contacts2, day3)
    assert night3.read_in_part
    [(how, built)] = read
    assert how == "part" and built >= len(theirs)  # theirs: an event named their pupil
    assert night3.counts.get("contact_links_added_or_changed") == len(theirs)
    assert _links_of(school, leaver) == theirs


def test_only_events_of_kinds_its_plan_reads_build_a_pupils_contacts(
    files: tuple[m.School, dict[str, bytes]], built: list[set[str]]
) -> None:
    # A membership added names a pupil's account, but a Contacts file's plan reads no
    # membership: that pupil's contacts are left out. An account update is read.
    from rollsync.directory.services.audit import AuditLog

    school, by_report = files
    _first_night(school, by_report, ("students", "staff", "contacts"))
    contacts = _lines(by_report["contacts"])
    pupils = list(dict.fromkeys(line.split(b",")[3].decode() for line in contacts[1:]))
    grouped, updated = pupils[2], pupils[4]
    log = AuditLog(actor="test", school=school)
    for kind, pupil in (("membership_added", grouped), ("account_updated", updated)):
        place = m.Allocation.objects.get(school=school, role="pupil", mis_id=pupil)
        log.add(kind, "an event since", account_id=place.account_id)
    log.flush()
    n = next(i for i, line in enumerate(contacts) if i and b"07700 9" in line)
    contacts[n] = contacts[n].replace(b"07700 9", b"07700 8", 1)  # a phone number
    _as_a_full_plan(school, "contacts", b"".join(contacts), DAY1 + timedelta(days=1))

    def contacts_of(pupil: str) -> set[str]:
        return {
            line.split(b",")[0].decode() for line in _contact_lines_of(b"".join(contacts), pupil)
        }

    assert contacts_of(updated) and contacts_of(grouped)
    assert built == [{contacts[n].split(b",")[0].decode()} | contacts_of(updated)]


def test_a_pupil_re_keyed_since_has_their_contacts_built(
    files: tuple[m.School, dict[str, bytes]], read: list[tuple[str, int]]
) -> None:
    # The Students file gives a pupil a new MIS ID (the same child: their account is
    # re-keyed); a Contacts file that still names the old one links nobody by it, as
    # the whole file's plan says, though none of its lines changed.
    school, by_report = files
    _first_night(school, by_report, ("students", "staff", "contacts"))
    students = _lines(by_report["students"])
    contacts = _lines(by_report["contacts"])
    n, old = next(
        (i, line.split(b",")[0].decode())
        for i, line in enumerate(students)
        if i and _contact_lines_of(by_report["contacts"], line.split(b",")[0].decode())
    )
    place = m.Allocation.objects.get(school=school, role="pupil", mis_id=old)
    students[n] = students[n].replace(old.encode() + b",", b"RK1,", 1)
    day2 = DAY1 + timedelta(days=1)
    _as_a_full_plan(school, "students", b"".join(students), day2)
    place.refresh_from_db()
    assert place.mis_id == "RK1"  # re-keyed: the same account
    other = next(i for i, line in enumerate(contacts) if i and line.split(b",")[3] != old.encode())
    contacts[other] = contacts[other].replace(b"07700 9", b"07700 8", 1)
    night = _as_a_full_plan(school, "contacts", b"".join(contacts), day2)
    assert night.read_in_part
    assert _links_of(school, "RK1") == []


def test_a_contact_linked_to_a_pupil_who_starts_later_is_linked_when_they_start(
    files: tuple[m.School, dict[str, bytes]], read: list[tuple[str, int]]
) -> None:
    # A pupil starts tomorrow, and the school takes no Students (future) report: no
    # account yet, and their contacts' links wait. Tomorrow the same Students file makes
    # them; the same Contacts file, none of its lines changed, links their contacts, as
    # the whole file's plan does. (Their account's creation is an event since, which
    # builds their contacts; the planner puts such a contact back by itself too:
    # test_partial_batch.py, test_a_contact_whose_line_names_a_pupil_placed_here_...)
    from rollsync.directory.services.schools import school_report_set

    school, by_report = files
    school_report_set(school=school, report="students_future", accepted=False, actor="t")
    students = _lines(by_report["students"])
    n, starter = next(
        (i, line.split(b",")[0].decode())
        for i, line in enumerate(students)
        if i and _contact_lines_of(by_report["contacts"], line.split(b",")[0].decode())
    )
    cells = students[n].split(b",")
    assert date.fromisoformat(cells[9].decode()) < DAY1  # start_date
    cells[9] = (DAY1 + timedelta(days=1)).isoformat().encode()
    students[n] = b",".join(cells)
    students_file = b"".join(students)
    theirs = sorted(
        line.split(b",")[0].decode() for line in _contact_lines_of(by_report["contacts"], starter)
    )
    _as_a_full_plan(school, "students", students_file, DAY1)
    _as_a_full_plan(school, "staff", by_report["staff"], DAY1)
    _as_a_full_plan(school, "contacts", by_report["contacts"], DAY1)
    assert not m.Allocation.objects.filter(school=school, mis_id=starter, role="pupil").exists()
    day2 = DAY1 + timedelta(days=1)
    _as_a_full_plan(school, "students", students_file, day2)
    assert _links_of(school, starter) == []
    read.clear()
    night = _as_a_full_plan(school, "contacts", by_report["contacts"], day2)
    assert read and read[-1][0] == "part" and night.read_in_part
    assert _links_of(school, starter) == theirs and theirs
