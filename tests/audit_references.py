"""Whether the audit log names only rows that exist (docs/decisions/0109: its references
have no constraint in the database)."""

from __future__ import annotations


def audit_events_naming_nothing() -> list[tuple[int, str]]:
    """(event id, "run" | "school" | "account") of up to ten events per reference whose
    run, school or account does not exist."""
    from django.db.models import Exists, OuterRef

    from rollsync.directory import models as m

    found: list[tuple[int, str]] = []
    for field, model in (("run", m.SyncRun), ("school", m.School), ("account", m.Account)):
        named = m.AuditEvent.objects.filter(**{f"{field}_id__isnull": False})
        missing = named.exclude(Exists(model.objects.filter(pk=OuterRef(f"{field}_id"))))
        found += [(pk, field) for pk in missing.order_by("pk").values_list("pk", flat=True)[:10]]
    return found
