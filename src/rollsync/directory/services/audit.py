"""Audit events: one per change, with its reason, written in the caller's transaction."""

from __future__ import annotations

from typing import Any

from rollsync.directory import models as m
from rollsync.directory.serialize import jsonable


class UnknownAuditKind(ValueError):
    """A service tried to write an audit event of a kind `models.AuditKind` does not list."""


_KINDS = frozenset(m.AuditKind.values)


class AuditLog:
    """Collects events during a service and writes them in one bulk insert. Each event's
    kind (`action`) is one of `models.AuditKind`; any other is refused, so the caller's
    transaction rolls back rather than write an event no one can find."""

    def __init__(self, *, actor: str, run: m.SyncRun | None = None, school: m.School | None = None):
        self.actor = actor
        self.run = run
        self.school = school
        self._events: list[m.AuditEvent] = []

    def add(
        self,
        action: str,
        reason: str,
        *,
        account_id: int | None = None,
        school: m.School | None = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        if action not in _KINDS:
            raise UnknownAuditKind(
                f"unknown audit event kind {action!r}: list it in "
                "rollsync.directory.models.AuditKind"
            )
        self._events.append(
            m.AuditEvent(
                action=action,
                reason=reason,
                actor=self.actor,
                run=self.run,
                school=school or self.school,
                account_id=account_id,
                changes=jsonable(changes or {}),
            )
        )

    def flush(self) -> int:
        m.AuditEvent.objects.bulk_create(self._events, batch_size=500)
        written = len(self._events)
        self._events = []
        return written
