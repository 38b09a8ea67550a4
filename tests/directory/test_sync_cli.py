"""The sync core end to end through the `rollsync` command, on a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rollsync.directory import models as m
from rollsync.domain.actions import RELATION_COUNT_KEYS
from tests.directory.helpers import OTHER_URN, SCHOOL_URN, import_json, pupil, snapshot

ZERO = {
    "created": 0,
    "updated": 0,
    "unchanged": 0,
    "moved_in": 0,
    "unallocated": 0,
    "restored": 0,
    "needs_matching": 0,
    "excluded": 0,
    "deferred": 0,
    "rejected": 0,
} | dict.fromkeys(RELATION_COUNT_KEYS, 0)


def counts(**kw: int) -> dict[str, int]:
    return {**ZERO, **kw}


FIRST_DAY = ("--as-of", "2026-09-07")


def test_first_import_creates_accounts_with_usernames(
    cli: Any, school: Any, write_csv: Any
) -> None:
    path = write_csv(
        "students",
        [
            pupil(
                "1001",
                "Siobhán",
                "O'Brien",
                "2016-03-04",
                preferred_given_name="Shiv",
                upn="K202345623017",
            ),
            pupil("1002", "Zoë", "Smith-Jones", "2016-05-06"),
        ],
    )
    out = import_json(cli, path, extra=FIRST_DAY)
    assert out["status"] == "applied"
    assert out["school"] == SCHOOL_URN
    assert out["counts"] == counts(created=2)
    assert out["errors"] == []
    accounts = cli.json("accounts", "--school", SCHOOL_URN)
    assert [
        (
            a["username"],
            a["legal_given_name"],
            a["legal_family_name"],
            a["preferred_given_name"],
            a["date_of_birth"],
            a["mis_id"],
            a["upn"],
            a["status"],
            a["role"],
        )
        for a in accounts
    ] == [
        (
            "sobrien.202",
            "Siobhán",
            "O'Brien",
            "Shiv",
            "2016-03-04",
            "1001",
            "K202345623017",
            "active",
            "pupil",
        ),
        (
            "zsmithjones.202",
            "Zoë",
            "Smith-Jones",
            None,
            "2016-05-06",
            "1002",
            None,
            "active",
            "pupil",
        ),
    ]
    created_events = m.AuditEvent.objects.filter(action="account_created").count()
    assert created_events == 2


def test_same_upload_twice_changes_nothing_second_time(
    cli: Any, school: Any, write_csv: Any
) -> None:
    path = write_csv(
        "students",
        [pupil("1001", "Amir", "Khan", "2016-01-02"), pupil("1002", "Bea", "Lund", "2016-02-03")],
    )
    import_json(cli, path, extra=FIRST_DAY)
    before = snapshot()
    again = import_json(cli, path, extra=FIRST_DAY)
    assert again["status"] == "applied"
    assert again["counts"] == counts(unchanged=2)
    after = snapshot()
    assert after == before


def test_dry_run_previews_and_changes_nothing(cli: Any, school: Any, write_csv: Any) -> None:
    before = snapshot()
    path = write_csv("students", [pupil("1001", "Amir", "Khan", "2016-01-02")])
    out = import_json(cli, path, extra=("--dry-run", *FIRST_DAY))
    assert out["status"] == "preview"
    assert out["counts"] == counts(created=1)
    assert snapshot() == before
    shown = cli.json("runs", "show", str(out["run"]))
    assert [(a["kind"], a["mis_id"]) for a in shown["actions"]] == [("create", "1001")]
    assert shown["actions"][0]["reason"]


def test_bad_rows_are_reported_and_good_rows_go_on(cli: Any, school: Any, write_csv: Any) -> None:
    path = write_csv(
        "students",
        [
            pupil("1001", "Amir", "Khan", "2016-01-02"),
            pupil("1002", "Bea", "", "2016-02-03"),
            pupil("1003", "Cal", "Moss", "2016-02-30"),
        ],
    )
    out = import_json(cli, path, extra=FIRST_DAY)
    assert out["status"] == "applied"
    assert out["counts"] == counts(created=1, rejected=2)
    assert [(e["row"], e["field"]) for e in out["errors"]] == [
        (3, "legal_family_name"),
        (4, "date_of_birth"),
    ]
    assert list(m.Allocation.objects.values_list("mis_id", flat=True)) == ["1001"]


def test_unreadable_file_fails_and_stores_nothing_but_the_upload(
    cli: Any, school: Any, tmp_path: Path
) -> None:
    before = snapshot()
    path = tmp_path / "students.csv"
    path.write_bytes(b"name,age\nx,1\n")
    out = import_json(cli, path, expect=1, extra=FIRST_DAY)
    assert out["status"] == "failed"
    assert out["errors"][0]["row"] is None
    assert "legal_given_name" in out["errors"][0]["message"] or out["errors"][0]["field"]
    assert snapshot() == before
    upload = m.Upload.objects.get()
    assert upload.outcome == "failed"
    assert bytes(upload.data) == b"name,age\nx,1\n"


def test_report_not_accepted_is_refused(cli: Any, school: Any, write_csv: Any) -> None:
    before = snapshot()
    path = write_csv(
        "attendance", [{"pupil_mis_id": "1001", "date": "2026-09-07", "session": "AM", "code": "/"}]
    )
    out = import_json(cli, path, report="attendance", expect=1, extra=FIRST_DAY)
    assert out["status"] == "failed"
    assert "not accepted the Attendance report" in out["errors"][0]["message"]
    assert snapshot() == before


def test_leaver_is_unallocated_never_deleted_and_restorable(
    cli: Any, school: Any, write_csv: Any
) -> None:
    cli("school", "policy", "--school", SCHOOL_URN, "--guard-pct", "60")
    everyone = [
        pupil("1001", "Amir", "Khan", "2016-01-02"),
        pupil("1002", "Bea", "Lund", "2016-02-03"),
    ]
    import_json(cli, write_csv("students", everyone), extra=FIRST_DAY)
    out = import_json(cli, write_csv("students", everyone[:1]), extra=("--as-of", "2026-09-08"))
    assert out["counts"] == counts(unchanged=1, unallocated=1)
    gone = m.Allocation.objects.get(mis_id="1002")
    assert gone.status == "unallocated"
    assert gone.account.status == "suspended"
    assert m.Account.objects.count() == 2
    cli("restore", gone.account.username, "--school", SCHOOL_URN, "--restore-anyway")
    gone.refresh_from_db()
    assert gone.status == "active"
    assert gone.account.status == "active"


def test_grace_period_defers_the_unallocation(cli: Any, school: Any, write_csv: Any) -> None:
    cli("school", "policy", "--school", SCHOOL_URN, "--guard-pct", "60", "--grace-days", "3")
    everyone = [
        pupil("1001", "Amir", "Khan", "2016-01-02"),
        pupil("1002", "Bea", "Lund", "2016-02-03"),
    ]
    import_json(cli, write_csv("students", everyone), extra=FIRST_DAY)
    only_amir = write_csv("students", everyone[:1])
    day2 = import_json(cli, only_amir, extra=("--as-of", "2026-09-08"))
    assert day2["counts"] == counts(unchanged=1, deferred=1)
    assert m.Allocation.objects.get(mis_id="1002").status == "active"
    day5 = import_json(cli, only_amir, extra=("--as-of", "2026-09-11"))
    assert day5["counts"] == counts(unchanged=1, unallocated=1)
    assert m.Allocation.objects.get(mis_id="1002").status == "unallocated"


def test_guard_holds_a_mass_removal_until_approved(cli: Any, school: Any, write_csv: Any) -> None:
    everyone = [pupil(str(1000 + i), f"Given{i}", f"Family{i}", "2016-01-02") for i in range(10)]
    import_json(cli, write_csv("students", everyone), extra=FIRST_DAY)
    before = snapshot()
    held = import_json(cli, write_csv("students", everyone[:8]), extra=("--as-of", "2026-09-08"))
    assert held["status"] == "held"
    assert held["counts"] == counts(unchanged=8, unallocated=2)
    assert snapshot() == before
    approved = cli.json("runs", "approve", str(held["run"]))
    assert approved["status"] == "applied"
    assert approved["run"] == held["run"]
    assert [(h["code"], h.get("acknowledged_by")) for h in approved["holds"]] == [
        ("unallocate_share", "operator")
    ]
    assert held["holds"][0]["code"] == "unallocate_share"
    assert "would unallocate 2 of the 10 active pupil accounts" in held["holds"][0]["message"]
    assert sorted(
        m.Allocation.objects.filter(status="unallocated").values_list("mis_id", flat=True)
    ) == ["1008", "1009"]


def test_empty_export_can_never_empty_a_school(cli: Any, school: Any, write_csv: Any) -> None:
    import_json(
        cli, write_csv("students", [pupil("1001", "Amir", "Khan", "2016-01-02")]), extra=FIRST_DAY
    )
    before = snapshot()
    out = import_json(cli, write_csv("students", []), extra=("--as-of", "2026-09-08"), expect=1)
    assert out["status"] == "failed"
    assert out["holds"] == [] and out["counts"]["unallocated"] == 0
    assert "lists nobody" in out["errors"][0]["message"]
    assert snapshot() == before


def test_mover_from_local_school_keeps_one_account(
    cli: Any, school: Any, other_school: Any, write_csv: Any
) -> None:
    import_json(
        cli,
        write_csv("students", [pupil("A1", "Amir", "Khan", "2014-01-02", upn="K202345623017")]),
        extra=FIRST_DAY,
    )
    out = import_json(
        cli,
        write_csv("students", [pupil("B7", "Amir", "Khan", "2014-01-02", upn="K202345623017")]),
        urn=OTHER_URN,
        extra=FIRST_DAY,
    )
    assert out["counts"] == counts(moved_in=1)
    assert m.Account.objects.count() == 1
    allocation = m.Allocation.objects.get(school__urn=OTHER_URN)
    assert (allocation.mis_id, allocation.last_move_or_create_kind) == ("B7", "moved")


def test_an_empty_exclusion_list_says_none(cli: Any, school: Any) -> None:
    out = cli("exclude", "list", "--school", SCHOOL_URN).output
    assert out.strip().endswith("none.")
    assert cli.json("exclude", "list", "--school", SCHOOL_URN) == []


def test_excluded_person_gets_no_account(cli: Any, school: Any, write_csv: Any) -> None:
    cli("exclude", "add", "--school", SCHOOL_URN, "--given", "Amir", "--family", "Khan")
    out = import_json(
        cli, write_csv("students", [pupil("1001", "Amir", "Khan", "2016-01-02")]), extra=FIRST_DAY
    )
    assert out["counts"] == counts(excluded=1)
    assert m.Account.objects.count() == 0


def test_request_single_account_is_linked_when_the_mis_sends_the_person(
    cli: Any, school: Any, write_csv: Any
) -> None:
    made = cli.json(
        "request-single",
        "--school",
        SCHOOL_URN,
        "--role",
        "pupil",
        "--given",
        "Amir",
        "--family",
        "Khan",
        "--dob",
        "2016-01-02",
    )
    out = import_json(
        cli, write_csv("students", [pupil("1001", "Amir", "Khan", "2016-01-02")]), extra=FIRST_DAY
    )
    assert out["counts"]["created"] == 0
    assert m.Account.objects.count() == 1
    allocation = m.Allocation.objects.get()
    assert (allocation.account.username, allocation.mis_id, allocation.requested_single) == (
        made["username"],
        "1001",
        False,
    )


def test_needs_matching_case_resolved_by_link_is_not_asked_again(
    cli: Any, school: Any, other_school: Any, write_csv: Any
) -> None:
    import_json(
        cli, write_csv("students", [pupil("A1", "Jonathan", "Khan", "2014-01-02")]), extra=FIRST_DAY
    )
    near = write_csv("students", [pupil("B7", "Jonathon", "Khan", "2014-01-02")])
    out = import_json(cli, near, urn=OTHER_URN, extra=FIRST_DAY)
    assert out["counts"] == counts(needs_matching=1)
    cases = cli.json("matches", "--school", OTHER_URN)
    assert len(cases) == 1
    existing = m.Account.objects.get()
    assert [c["account_id"] for c in cases[0]["candidates"]] == [existing.pk]
    # The next night's run does not open a second case nor lose the candidates.
    waiting = import_json(cli, near, urn=OTHER_URN, extra=FIRST_DAY)
    assert waiting["counts"] == counts(needs_matching=1)
    assert cli.json("matches", "--school", OTHER_URN) == cases
    cli("matches", "resolve", str(cases[0]["case"]), "--link", str(existing.pk))
    # Jonathan is still active at the first school: his name waits for its agreement
    # (issue 7, item 2), so the link does not rename him, and no run does either.
    again = import_json(cli, near, urn=OTHER_URN, extra=FIRST_DAY)
    assert (again["counts"]["needs_matching"], again["counts"]["created"]) == (0, 0)
    assert cli.json("matches", "--school", OTHER_URN) == []
    assert m.Account.objects.count() == 1
    existing.refresh_from_db()
    assert existing.legal_given_name == "Jonathan"
    [asked] = m.CrossSchoolCase.objects.filter(status="open")
    assert (asked.school.urn, asked.holding_school.urn, asked.changes) == (
        OTHER_URN,
        SCHOOL_URN,
        {"legal_given_name": ["Jonathan", "Jonathon"]},
    )


def test_create_new_decision_is_never_overturned(
    cli: Any, school: Any, other_school: Any, write_csv: Any
) -> None:
    import_json(
        cli, write_csv("students", [pupil("A1", "Jonathan", "Khan", "2014-01-02")]), extra=FIRST_DAY
    )
    near = write_csv("students", [pupil("B7", "Jonathon", "Khan", "2014-01-02")])
    import_json(cli, near, urn=OTHER_URN, extra=FIRST_DAY)
    [case] = cli.json("matches", "--school", OTHER_URN)
    cli("matches", "resolve", str(case["case"]), "--create")
    created = m.MatchCase.objects.get(pk=case["case"]).resolved_account
    again = import_json(cli, near, urn=OTHER_URN, extra=("--as-of", "2026-09-08"))
    assert again["counts"] == counts(unchanged=1)
    assert cli.json("matches", "--school", OTHER_URN) == []
    assert m.Account.objects.count() == 2
    assert m.Allocation.objects.get(school__urn=OTHER_URN).account == created
