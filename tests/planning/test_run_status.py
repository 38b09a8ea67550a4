"""The wording of a run's status and the grouping of its messages (pure)."""

from __future__ import annotations

import pytest

from rollsync.domain.records import GroupKind, GroupRecord, ImportBatch, RowError
from rollsync.domain.run_status import (
    commonest_reason,
    group_messages,
    message_kind,
    run_view,
)
from rollsync.planning import guard


def test_run_view_never_shows_a_partial_run_as_clean() -> None:
    def words(status: str, rejected: int = 0, waits_for: int | None = None) -> tuple[str, str]:
        v = run_view(status=status, counts={"rejected": rejected}, waits_for=waits_for)
        return v.label, v.tone

    assert words("applied") == ("Applied", "green")
    assert words("applied", 1) == ("Applied with 1 rejected row", "amber")
    assert words("applied", 1234) == ("Applied with 1,234 rejected rows", "amber")
    assert words("held") == ("Held", "red")
    assert words("held", waits_for=7) == ("Waiting for run 7", "grey")
    assert words("rejected") == ("Rejected", "red")
    assert words("failed", 3) == ("Failed", "red")
    assert words("superseded") == ("Superseded", "grey")
    assert run_view(status="applied", counts=None).clean


def test_messages_of_one_kind_differ_only_in_ids_and_numbers() -> None:
    a = "1 attendance mark name pupil MIS ID X17, who is not in this upload; it was skipped."
    b = "1 attendance mark name pupil MIS ID 4411A, who is not in this upload; it was skipped."
    assert message_kind(a) == message_kind(b)
    assert message_kind(a) != message_kind("date '2026-13-01' is not a date")
    errors = [
        {"row": 1, "field": "f", "message": a},
        {"row": 2, "field": "f", "message": a.replace("X17", "X18")},
        {"row": 3, "field": "f", "message": a.replace("X17", "Q9")},
        {"row": 4, "field": "f", "message": a.replace("X17", "Z2")},
        {"row": 5, "field": "date", "message": "date '2026-13-01' is not a date"},
    ]
    groups = group_messages(errors, examples=3)
    assert [(g.count, g.field, len(g.examples), g.more) for g in groups] == [
        (4, "f", 3, 1),
        (1, "date", 1, 0),
    ]
    assert commonest_reason(errors) == a


def test_nobody_listed_and_all_rows_rejected_are_whole_file_errors() -> None:
    empty = ImportBatch("csv", frozenset({"students"}), frozenset())
    error = guard.nobody_listed(empty)
    assert error is not None and error.row is None
    assert (
        guard.nobody_listed(ImportBatch("csv", frozenset({"students_future"}), frozenset())) is None
    )
    assert guard.nobody_listed(ImportBatch("csv", frozenset({"attendance"}), frozenset())) is None
    assert guard.nobody_listed(ImportBatch("sds", frozenset(), frozenset())) is not None


@pytest.mark.parametrize(
    ("fmt", "report", "refused"),
    [
        ("wonde-api", "students_future", False),  # nobody due to start: a true answer
        ("arbor-api", "attendance", False),
        ("arbor-api", "groups", True),  # no groups at all: a broken pull
        ("isams-api", "students", True),
        ("isams-api", "staff", True),
    ],
)
def test_a_pull_of_one_report_is_judged_by_that_report(
    fmt: str, report: str, refused: bool
) -> None:
    error = guard.nobody_listed(ImportBatch(fmt, frozenset({report}), frozenset()))
    assert (error is not None) is refused
    with_groups = ImportBatch(
        fmt, frozenset({"groups"}), frozenset(), groups=[GroupRecord("G1", "7A", GroupKind.CLASS)]
    )
    assert guard.nobody_listed(with_groups) is None
    refused = ImportBatch(
        "csv",
        frozenset({"students"}),
        frozenset(),
        errors=[RowError(1, "date_of_birth", "not a date")],
        rows_read=1,
    )
    assert guard.nobody_listed(refused) is None  # rows there were: all rejected instead
