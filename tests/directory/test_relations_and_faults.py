"""Contacts, groups and attendance applied with people; a crash mid-run changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services import sync
from tests.directory.helpers import SCHOOL_URN, import_json, pupil, snapshot

AS_OF = ("--as-of", "2026-09-07")


def _staff(mis_id: str, given: str, family: str, dob: str) -> dict[str, Any]:
    return {
        "mis_id": mis_id,
        "legal_given_name": given,
        "legal_family_name": family,
        "date_of_birth": dob,
    }


@pytest.fixture
def people(cli: Any, school: Any, write_csv: Any) -> None:
    import_json(
        cli,
        write_csv(
            "students",
            [pupil("P1", "Amir", "Khan", "2016-01-02"), pupil("P2", "Sara", "Khan", "2018-03-04")],
        ),
        extra=AS_OF,
    )
    import_json(
        cli,
        write_csv("staff", [_staff("S1", "Grace", "Hopper", "1980-12-09")]),
        report="staff",
        extra=AS_OF,
    )


def test_contacts_shared_by_siblings_are_one_account_linked_twice(
    cli: Any, people: None, write_csv: Any
) -> None:
    rows = [
        {
            "mis_id": "C1",
            "legal_given_name": "Nadia",
            "legal_family_name": "Khan",
            "pupil_mis_id": "P1",
            "priority": "1",
            "parental_responsibility": "yes",
            "relationship": "Mother",
            "email": "nadia@example.org",
        },
        {
            "mis_id": "C1",
            "legal_given_name": "Nadia",
            "legal_family_name": "Khan",
            "pupil_mis_id": "P2",
            "priority": "1",
            "parental_responsibility": "yes",
            "relationship": "Mother",
            "email": "nadia@example.org",
        },
        {
            "mis_id": "C2",
            "legal_given_name": "Omar",
            "legal_family_name": "Khan",
            "pupil_mis_id": "P1",
            "priority": "2",
            "parental_responsibility": "no",
            "relationship": "Uncle",
        },
    ]
    out = import_json(cli, write_csv("contacts", rows), report="contacts", extra=AS_OF)
    assert out["status"] == "applied"
    assert out["counts"]["created"] == 2
    links = sorted(
        m.ContactLink.objects.values_list(
            "contact__legal_given_name",
            "pupil__legal_given_name",
            "priority",
            "parental_responsibility",
            "relationship",
        )
    )
    assert links == [
        ("Nadia", "Amir", 1, True, "Mother"),
        ("Nadia", "Sara", 1, True, "Mother"),
        ("Omar", "Amir", 2, False, "Uncle"),
    ]
    before = snapshot()
    again = import_json(cli, write_csv("contacts", rows), report="contacts", extra=AS_OF)
    assert again["counts"]["unchanged"] == 2
    assert snapshot() == before


def test_groups_with_teacher_and_students(cli: Any, people: None, write_csv: Any) -> None:
    rows = [
        {
            "group_mis_id": "G7A",
            "group_name": "7A",
            "group_kind": "registration",
            "person_role": "pupil",
            "person_mis_id": "P1",
            "membership_role": "student",
        },
        {
            "group_mis_id": "G7A",
            "group_name": "7A",
            "group_kind": "registration",
            "person_role": "pupil",
            "person_mis_id": "P2",
            "membership_role": "student",
        },
        {
            "group_mis_id": "G7A",
            "group_name": "7A",
            "group_kind": "registration",
            "person_role": "staff",
            "person_mis_id": "S1",
            "membership_role": "teacher",
        },
    ]
    out = import_json(cli, write_csv("groups", rows), report="groups", extra=AS_OF)
    assert out["status"] == "applied"
    # A groups run says what it changed (not "nothing to do": it changed no person).
    assert {k: v for k, v in out["counts"].items() if v} == {
        "groups_added_or_changed": 1,
        "memberships_added": 3,
    }
    again = import_json(cli, write_csv("groups", rows), report="groups", extra=AS_OF)
    assert (again["status"], {k: v for k, v in again["counts"].items() if v}) == ("applied", {})
    group = m.Group.objects.get()
    assert (group.mis_id, group.name, group.kind) == ("G7A", "7A", "registration")
    assert sorted(group.memberships.values_list("account__legal_given_name", "role")) == [
        ("Amir", "student"),
        ("Grace", "teacher"),
        ("Sara", "student"),
    ]
    out2 = import_json(cli, write_csv("groups", rows[:2]), report="groups", extra=AS_OF)
    # 1 of the school's 3 memberships (33%) is above its 10% limit: a person approves.
    assert out2["status"] == "held"
    assert [h["code"] for h in out2["holds"]] == ["membership_removal_share"]
    assert {k: v for k, v in out2["counts"].items() if v} == {"memberships_ended": 1}
    assert cli.json("runs", "approve", str(out2["run"]))["status"] == "applied"
    # Grace's membership is ended, not deleted (issue 7, item 6).
    assert sorted(
        (name, ended is None)
        for name, ended in group.memberships.values_list("account__legal_given_name", "ended_at")
    ) == [("Amir", True), ("Grace", False), ("Sara", True)]


def test_attendance_marks_recorded_for_known_pupils(cli: Any, people: None, write_csv: Any) -> None:
    cli("school", "reports", "--school", SCHOOL_URN, "--accept", "attendance")
    rows = [
        {"pupil_mis_id": "P1", "date": "2026-09-07", "session": "AM", "code": "/"},
        {"pupil_mis_id": "P1", "date": "2026-09-07", "session": "PM", "code": "L"},
        {"pupil_mis_id": "P2", "date": "2026-09-07", "session": "AM", "code": "I"},
    ]
    out = import_json(cli, write_csv("attendance", rows), report="attendance", extra=AS_OF)
    assert out["status"] == "applied"
    assert {k: v for k, v in out["counts"].items() if v} == {"attendance_marks": 3}
    assert sorted(
        m.AttendanceMark.objects.values_list("account__legal_given_name", "session", "code")
    ) == [
        ("Amir", "AM", "/"),
        ("Amir", "PM", "L"),
        ("Sara", "AM", "I"),
    ]


def test_crash_mid_apply_leaves_directory_as_before_and_can_be_retried(
    cli: Any, school: Any, write_csv: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(
        "students",
        [pupil("P1", "Amir", "Khan", "2016-01-02"), pupil("P2", "Sara", "Khan", "2018-03-04")],
    )
    before = snapshot()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    # Fault injection: the people are written, then the relations step dies.
    monkeypatch.setattr(sync, "_apply_groups", crash)
    out = import_json(cli, path, expect=1, extra=AS_OF)
    assert out["status"] == "failed"
    assert "apply failed, nothing was changed" in out["errors"][-1]["message"]
    assert snapshot() == before
    failed = m.SyncRun.objects.get(pk=out["run"])
    assert "disk full" in failed.detail
    monkeypatch.undo()
    retry = import_json(cli, path, extra=AS_OF)
    assert retry["status"] == "applied"
    assert retry["counts"]["created"] == 2
