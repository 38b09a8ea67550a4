"""The audit log's references to runs, schools and accounts have no constraint in the
database (docs/decisions/0109): deleting a row an event names is still refused, through
Django, and the check every database test ends with (`tests/conftest.py`) finds an event
naming a row that does not exist."""

from __future__ import annotations

from datetime import date

import pytest
from django.db.models import ProtectedError

from rollsync.directory import models as m
from rollsync.directory.services.sync import sync_run_execute
from tests.audit_references import audit_events_naming_nothing
from tests.directory.helpers import csv_upload, pupil


def test_a_school_run_or_account_an_event_names_is_not_deleted(school: m.School) -> None:
    upload = csv_upload(school, [pupil("P1", "Ada", "Lovelace", "2014-01-02")])
    run = sync_run_execute(upload=upload, as_of=date(2026, 9, 1), actor="test")
    account = m.Account.objects.get()
    assert m.AuditEvent.objects.filter(account=account, run=run, school=school).exists()
    m.Allocation.objects.all().delete()  # (not what holds it: the event does)
    for row in (account, run, school):
        with pytest.raises(ProtectedError) as refused:
            row.delete()
        assert any(isinstance(o, m.AuditEvent) for o in refused.value.protected_objects)
    assert m.Account.objects.filter(pk=account.pk).exists()
    assert m.SyncRun.objects.filter(pk=run.pk).exists()
    assert m.School.objects.filter(pk=school.pk).exists()
    assert audit_events_naming_nothing() == []


def test_an_event_naming_no_row_is_found(school: m.School) -> None:
    last = m.Account.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    event = m.AuditEvent.objects.create(
        action=m.AuditKind.ACCOUNT_UPDATED,
        reason="names an account that is not there",
        actor="test",
        school=school,
        account_id=last + 1000,
    )
    assert audit_events_naming_nothing() == [(event.pk, "account")]
    event.delete()
    assert audit_events_naming_nothing() == []
