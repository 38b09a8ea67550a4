"""Issue 8, defects 5, 6 and 7 at the command and service level: an account's history
names real values; a restore the next run would undo says so and offers to keep the
account as non-MIS (a decision the sync respects); User Request Single looks for the
person first."""

from __future__ import annotations

import json
from typing import Any

from rollsync.directory import models as m
from rollsync.directory.selectors import audit_change_lines
from tests.directory.helpers import SCHOOL_URN, import_json, pupil

FIRST_DAY = ("--as-of", "2026-09-07")
DAY2 = ("--as-of", "2026-09-08")
DAY3 = ("--as-of", "2026-09-09")

EVERYONE = [
    pupil("1001", "Amir", "Khan", "2016-01-02"),
    pupil("1002", "Bea", "Lund", "2016-02-03"),
    pupil("1003", "Cal", "Moss", "2016-03-04"),
]


def _gone(cli: Any, write_csv: Any) -> m.Allocation:
    """Bea left the export on day 2 and was unallocated."""
    cli("school", "policy", "--school", SCHOOL_URN, "--guard-pct", "60")
    import_json(cli, write_csv("students", EVERYONE), extra=FIRST_DAY)
    import_json(cli, write_csv("students", [EVERYONE[0], EVERYONE[2]]), extra=DAY2)
    gone = m.Allocation.objects.select_related("account").get(mis_id="1002")
    assert gone.status == "unallocated"
    return gone


def test_history_names_real_usernames_mis_ids_and_schools(
    cli: Any, school: Any, write_csv: Any
) -> None:
    gone = _gone(cli, write_csv)
    events = list(m.AuditEvent.objects.filter(account=gone.account).order_by("pk"))
    lines = audit_change_lines(events)
    created, unallocated = events
    assert created.changes == {"username": [None, gone.account.username], "mis_id": [None, "1002"]}
    assert lines[created.pk] == [f"Username: none → {gone.account.username}", "MIS ID: none → 1002"]
    assert lines[unallocated.pk] == [
        "Status: active → unallocated",
        "School: Hillside Primary",
        "Account: active → suspended",
    ]
    # An event written before values were pairs reads as its values, never as characters.
    old = m.AuditEvent.objects.create(
        action="account_created",
        reason="old",
        actor="test",
        school=school,
        account=gone.account,
        changes={"username": "ahmed.k", "mis_id": "23", "school": SCHOOL_URN},
    )
    assert audit_change_lines([old])[old.pk] == [
        "Username: ahmed.k",
        "MIS ID: 23",
        "School: Hillside Primary",
    ]


def test_restore_of_someone_the_export_lacks_asks_first(
    cli: Any, school: Any, write_csv: Any
) -> None:
    gone = _gone(cli, write_csv)
    username = gone.account.username
    before = list(m.Allocation.objects.order_by("pk").values())
    events = m.AuditEvent.objects.count()
    refused = cli("restore", username, "--school", SCHOOL_URN, expect=1)
    assert refused.stderr.strip() == (
        f"error: {username} (MIS ID 1002) is not in the latest export of Hillside Primary "
        f"(run {m.SyncRun.objects.latest('pk').pk}, 08 Sep 2026): the next run would unallocate "
        "them again. Keep them as non-MIS at Hillside Primary (the sync then leaves them "
        "alone), or restore them anyway. Pass --keep-non-mis or --restore-anyway."
    )
    assert list(m.Allocation.objects.order_by("pk").values()) == before
    assert m.AuditEvent.objects.count() == events

    out = cli("restore", username, "--school", SCHOOL_URN, "--keep-non-mis", "--by", "ms.head")
    assert out.output.strip() == f"{username} restored at {SCHOOL_URN} and kept as non-MIS"
    gone.refresh_from_db()
    assert (gone.status, gone.mis_id, gone.account.status) == ("active", "", "active")
    kept = m.AuditEvent.objects.filter(account=gone.account).order_by("pk")
    assert [e.action for e in kept][-2:] == ["account_restored", "non_mis_kept"]
    assert kept.get(action="account_restored").changes["mis_id"] == ["1002", ""]

    # The next runs, still without Bea, leave the decision alone.
    for day in (DAY3, ("--as-of", "2026-09-10")):
        out = import_json(cli, write_csv("students", [EVERYONE[0], EVERYONE[2]]), extra=day)
        assert out["counts"]["unallocated"] == 0
        assert out["counts"].get("leavers_pending", 0) == 0
    gone.refresh_from_db()
    assert (gone.status, gone.mis_id, gone.unallocated_at) == ("active", "", None)
    # Each of those runs says it left the account alone, and why, at the command too.
    last = m.SyncRun.objects.latest("pk")
    kept_at = m.AuditEvent.objects.get(account=gone.account, action="non_mis_kept").at
    shown = json.loads(cli("runs", "show", str(last.pk), "--json").output)
    assert shown["kept_non_mis"] == [
        {"username": username, "kept_by": "ms.head", "kept_at": kept_at.isoformat()}
    ]
    text = cli("runs", "show", str(last.pk)).output
    assert f"  left alone: {username}, kept as non-MIS by ms.head on {kept_at:%Y-%m-%d}\n" in text


def test_restore_anyway_and_restore_of_someone_still_listed(
    cli: Any, school: Any, write_csv: Any
) -> None:
    gone = _gone(cli, write_csv)
    out = cli("restore", gone.account.username, "--school", SCHOOL_URN, "--restore-anyway")
    assert out.output.strip() == f"{gone.account.username} restored at {SCHOOL_URN}"
    gone.refresh_from_db()
    assert (gone.status, gone.mis_id) == ("active", "1002")
    event = m.AuditEvent.objects.filter(account=gone.account).latest("pk")
    assert "who was told MIS ID 1002 is not in the latest export" in event.reason
    # Someone the latest export lists is restored at once (nothing to decide), and may
    # not be "kept as non-MIS": the MIS backs them.
    import_json(cli, write_csv("students", EVERYONE), extra=DAY3)
    m.Allocation.objects.filter(pk=gone.pk).update(status="unallocated")
    refused = cli(
        "restore", gone.account.username, "--school", SCHOOL_URN, "--keep-non-mis", expect=1
    )
    assert "is in the latest export of Hillside Primary" in refused.stderr
    cli("restore", gone.account.username, "--school", SCHOOL_URN)
    gone.refresh_from_db()
    assert (gone.status, gone.mis_id) == ("active", "1002")


def _request(cli: Any, *extra: str, expect: int = 0, given: str = "Bea") -> Any:
    return cli(
        "request-single",
        "--school",
        SCHOOL_URN,
        "--role",
        "pupil",
        "--given",
        given,
        "--family",
        "Lund",
        "--dob",
        "2016-02-03",
        *extra,
        expect=expect,
    )


def test_request_single_finds_the_pupil_who_already_has_an_account(
    cli: Any, school: Any, write_csv: Any
) -> None:
    import_json(cli, write_csv("students", EVERYONE), extra=FIRST_DAY)
    bea = m.Allocation.objects.get(mis_id="1002").account
    before = (m.Account.objects.count(), m.Allocation.objects.count(), m.AuditEvent.objects.count())
    refused = _request(cli, expect=1)
    lines = refused.stderr.strip().splitlines()
    assert lines[0] == "error: existing accounts may already be Bea Lund; nothing was created:"
    assert lines[1].startswith(
        f"  {bea.username} (Bea Lund, born 03 Feb 2016; Hillside Primary (active, MIS ID 1002)): "
    )
    assert lines[-1] == "Check them, or pass --create-anyway to make a second account."
    assert (
        m.Account.objects.count(),
        m.Allocation.objects.count(),
        m.AuditEvent.objects.count(),
    ) == before
    as_json = cli.json(
        "request-single",
        "--school",
        SCHOOL_URN,
        "--role",
        "pupil",
        "--given",
        "Bea",
        "--family",
        "Lund",
        "--dob",
        "2016-02-03",
        expect=1,
    )
    assert [c["username"] for c in as_json["candidates"]] == [bea.username]
    # Confirmed: a second account, and the audit says it was made knowingly.
    made = _request(cli, "--create-anyway")
    second = m.Account.objects.exclude(pk=bea.pk).get(legal_given_name="Bea")
    assert made.output.strip() == f"{second.username} created at {SCHOOL_URN} ahead of the MIS"
    event = m.AuditEvent.objects.get(account=second, action="account_requested")
    assert f"created anyway though {bea.username} may be the same person" in event.reason
    # Someone nobody has an account for is made at once.
    fresh = _request(cli, given="Zed")
    assert fresh.exit_code == 0
