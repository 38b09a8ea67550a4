"""Migration directory 0012 back-fills `modified_at` of the groups and memberships that
existed before it: never before the real change (an ended row: when it ended; a live
one: its school's latest applied run, dry runs and other runs not counted)."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime

import pytest
from django.apps import apps

from rollsync.directory import models as m

backfill = importlib.import_module(
    "rollsync.directory.migrations.0012_group_membership_modified_at"
).backfill


def _at(day: int) -> datetime:
    return datetime(2026, 9, day, 18, 0, tzinfo=UTC)


def _run(school: m.School, status: str, at: datetime, *, dry_run: bool = False) -> None:
    upload = m.Upload.objects.create(school=school, source="test", fmt="csv", size=1, sha256="0")
    m.SyncRun.objects.create(
        upload=upload, school=school, status=status, as_of=date(2026, 9, 1), applied_at=at,
        dry_run=dry_run,
    )  # fmt: skip


@pytest.mark.django_db
def test_backfill(school: m.School, other_school: m.School) -> None:
    _run(school, "applied", _at(2))
    _run(school, "applied", _at(5))
    _run(school, "applied", _at(9), dry_run=True)
    _run(school, "failed", _at(10))
    pupil = m.Account.objects.create(
        username="p1", role="pupil", legal_given_name="A", legal_family_name="B"
    )
    live = m.Group.objects.create(school=school, mis_id="1", name="7A", kind="class")
    ended = m.Group.objects.create(
        school=school, mis_id="2", name="7B", kind="class", ended_at=_at(3)
    )
    elsewhere = m.Group.objects.create(school=other_school, mis_id="1", name="1A", kind="class")
    live_member = m.GroupMembership.objects.create(group=live, account=pupil, role="student")
    ended_member = m.GroupMembership.objects.create(
        group=live, account=pupil, role="teacher", ended_at=_at(4)
    )
    untouched = elsewhere.modified_at

    backfill(apps, None)

    def modified(row: m.Group | m.GroupMembership) -> datetime:
        row.refresh_from_db()
        return row.modified_at

    assert modified(live) == _at(5) and modified(live_member) == _at(5)
    assert modified(ended) == _at(3) and modified(ended_member) == _at(4)
    assert modified(elsewhere) == untouched  # no run applied there: the migration's time
