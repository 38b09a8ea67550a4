"""The database side of the safety suite: a school loaded with day 1 (the baseline),
a full snapshot of what the directory holds, and one sync run through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute, upload_store
from rollsync.domain.reports import CATALOGUE
from tests.safety.exports import SchoolExports, Upload

# Where the directory keeps a school's data; a failed or held run must change none of it.
SNAPSHOT_MODELS: dict[str, Any] = {
    "accounts": m.Account,
    "allocations": m.Allocation,
    "groups": m.Group,
    "memberships": m.GroupMembership,
    "contact_links": m.ContactLink,
    "attendance": m.AttendanceMark,
}


def load_baseline(ex: SchoolExports) -> m.School:
    """Register the school, accept every report, and apply its day 1 export."""
    school = school_add(
        urn=ex.urn,
        la_code=ex.la_code,
        estab=ex.estab,
        name=ex.name,
        la_name=ex.la_name,
        accept_reports=tuple(CATALOGUE),
        actor="safety",
    )
    for upload in ex.uploads(1):
        run = run_upload(school, upload, ex.dates[0])
        assert run.status == m.SyncRun.Status.APPLIED, (upload.name, run.status, run.errors)
    return school


def run_upload(school: m.School, upload: Upload, as_of: date) -> m.SyncRun:
    stored = upload_store(
        school=school,
        payload=upload.payload,
        fmt=upload.fmt,
        report=upload.report,
        filename=upload.name,
        source="safety",
    )
    return sync_run_execute(upload=stored, as_of=as_of, actor="safety")


def snapshot() -> dict[str, dict[int, dict[str, Any]]]:
    """Every row of every table a sync run writes people and relations to, by primary key."""
    return {
        name: {row["id"]: row for row in model.objects.values()}
        for name, model in SNAPSHOT_MODELS.items()
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Field-by-field differences between two snapshots, in words."""
    out: list[str] = []
    for table, rows in before.items():
        now = after[table]
        for pk in sorted(set(rows) - set(now)):
            out.append(f"{table} {pk} deleted")
        for pk in sorted(set(now) - set(rows)):
            out.append(f"{table} {pk} added")
        for pk in sorted(set(rows) & set(now)):
            for key, value in rows[pk].items():
                if now[pk][key] != value:
                    out.append(f"{table} {pk}.{key}: {value!r} -> {now[pk][key]!r}")
    return out


@dataclass(frozen=True)
class AccountKey:
    """Who an allocation at the school is, in the export's words."""

    role: str
    key: str


def account_people(school: m.School, ex: SchoolExports) -> dict[int, str]:
    """account id -> simulated person_id, from the baseline's allocations at the school."""
    by_key = ex.key_person(1)
    # A CTF names no contact by ID: its contacts are known by name.
    by_name = {(c.legal_given, c.legal_family): c.person_id for c in ex.day1.contacts}
    out: dict[int, str] = {}
    for alloc in m.Allocation.objects.filter(school=school).select_related("account"):
        for key in (alloc.mis_id, alloc.upn or ""):
            person = by_key.get((alloc.role, key))
            if person is not None:
                out[alloc.account_id] = person
                break
        else:
            name = (alloc.account.legal_given_name, alloc.account.legal_family_name)
            if alloc.role == "contact" and name in by_name:
                out[alloc.account_id] = by_name[name]
    return out
