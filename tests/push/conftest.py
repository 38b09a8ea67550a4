"""Bromcom schools that push to rollsync: registered with the MIS set to Bromcom, the
reports Bromcom sends accepted, push credentials issued through the service, and the
simulated school's reports rendered by the sender simulator (`missim.bromcom_push`)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.push import (
    IssuedCredentials,
    PushReceipt,
    push_credentials_issue,
    push_receive,
)
from rollsync.directory.services.schools import school_add
from rollsync.missim.bromcom_push import PushCredentials, render_reports
from rollsync.simulate import SchoolSnapshot, make_school_truth

# Every report Bromcom sends (not Groups & Classes)
ACCEPTED = ("students", "students_future", "staff", "staff_future", "contacts", "attendance")


@functools.cache
def _truth() -> SchoolSnapshot:
    return make_school_truth(pupils=12, phase="Primary")


def snapshot_of(school: m.School) -> SchoolSnapshot:
    return dataclasses.replace(
        _truth(),
        urn=school.urn,
        la_code=school.la.code,
        la_name=school.la.name,
        estab=school.estab,
        school_name=school.name,
    )


def bromcom_school(n: int = 1, *, accept: tuple[str, ...] = ACCEPTED) -> m.School:
    return school_add(
        urn=f"{100000 + n}",
        la_code="202",
        estab=f"{2000 + n}",
        name=f"Bromcom School {n}",
        la_name="Testshire",
        mis="Bromcom",
        accept_reports=accept,
        actor="setup",
    )


@dataclass
class Pusher:
    school: m.School
    snap: SchoolSnapshot
    creds: IssuedCredentials

    @property
    def sender(self) -> PushCredentials:
        return PushCredentials(self.creds.licence_key, self.creds.supplier_id, self.creds.password)

    def file(self, report: str) -> bytes:
        return render_reports(self.snap, [report])[report]

    def push(self, report: str, payload: Any = None, **kw: Any) -> PushReceipt:
        args: dict[str, Any] = {
            "licence_key": self.creds.licence_key,
            "supplier_id": self.creds.supplier_id,
            "password": self.creds.password,
            "report": report,
            "payload": self.file(report) if payload is None else payload,
        }
        return push_receive(**{**args, **kw})


def make_pusher(n: int = 1) -> Pusher:
    school = bromcom_school(n)
    creds = push_credentials_issue(school=school, actor="admin")
    return Pusher(school, snapshot_of(school), creds)


@pytest.fixture
def bromcom(db: Any) -> Pusher:
    return make_pusher()


def stored() -> dict[str, int]:
    """What a refused push must leave as it was."""
    return {
        "uploads": m.Upload.objects.count(),
        "tasks": m.QueuedTask.objects.count(),
        "audit": m.AuditEvent.objects.count(),
        "runs": m.SyncRun.objects.count(),
        "pushed": m.MisConnection.objects.exclude(last_pull_at=None).count(),
    }
