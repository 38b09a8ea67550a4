"""What the export tests share: a simulated school synced into the directory, a view of
a directory that does not depend on its ids, and a fresh directory to import into."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management import call_command
from django.db import connection

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute, upload_store
from rollsync.domain.reports import CATALOGUE
from tests.safety.exports import SchoolExports

PersonKey = tuple[str, str, str, Any]  # role, legal given, legal family, date of birth


def key(account: m.Account, role: str) -> PersonKey:
    return (role, account.legal_given_name, account.legal_family_name, account.date_of_birth)


def directory_view(school: m.School, *, person_fields: tuple[str, ...]) -> dict[str, Any]:
    """Who the school holds and how they are linked, by who they are (never by id)."""
    placed = m.Allocation.objects.filter(school=school).exclude(status="unallocated")
    people: Counter[tuple[Any, ...]] = Counter()
    places: Counter[tuple[Any, ...]] = Counter()
    for a in placed.select_related("account"):
        people[(*key(a.account, a.role), *(getattr(a.account, f) for f in person_fields))] += 1
        if a.role == "pupil":
            places[(*key(a.account, a.role), a.year_group)] += 1
    roles = {(a.account_id): a.role for a in placed}
    members: Counter[tuple[Any, ...]] = Counter(
        (gm.group.name, gm.role, key(gm.account, roles[gm.account_id]))
        for gm in m.GroupMembership.objects.filter(
            group__school=school, group__ended_at__isnull=True, ended_at__isnull=True
        ).select_related("group", "account")
    )
    links: Counter[tuple[Any, ...]] = Counter(
        (key(cl.contact, "contact"), key(cl.pupil, "pupil"))
        for cl in m.ContactLink.objects.filter(school=school, ended_at__isnull=True).select_related(
            "contact", "pupil"
        )
    )
    return {"people": people, "pupil_years": places, "memberships": members, "links": links}


def registration_groups(school: m.School) -> Counter[tuple[Any, ...]]:
    return Counter(
        (*key(a.account, "pupil"), a.registration_group)
        for a in m.Allocation.objects.filter(school=school, role="pupil")
        .exclude(status="unallocated")
        .select_related("account")
    )


def wipe_directory() -> None:
    """Empty every table: the next import goes into a fresh directory."""
    if connection.vendor == "postgresql":
        # Inside the test's transaction: fire the deferred checks so TRUNCATE may run.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    call_command("flush", interactive=False, verbosity=0)


def fresh_school(ex: SchoolExports) -> m.School:
    return school_add(
        urn=ex.urn,
        la_code=ex.la_code,
        estab=ex.estab,
        name=ex.name,
        la_name=ex.la_name,
        accept_reports=tuple(CATALOGUE),
        actor="test",
    )


def import_bundle(school: m.School, payload: bytes, fmt: str, as_of: Any) -> m.SyncRun:
    stored = upload_store(
        school=school, payload=payload, fmt=fmt, report="", filename=f"{fmt}.zip", source="test"
    )
    return sync_run_execute(upload=stored, as_of=as_of, actor="test")
