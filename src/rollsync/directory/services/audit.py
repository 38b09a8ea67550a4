"""Audit events: one per change, with its reason, written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db import connection
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.serialize import jsonable
from rollsync.directory.services import bulk


class UnknownAuditKind(ValueError):
    """A service tried to write an audit event of a kind `models.AuditKind` does not list."""


_KINDS = frozenset(m.AuditKind.values)

# Who hears of events as they are written, in the caller's transaction (the webhooks
# outbox registers itself when its app is ready: rollsync.webhooks.apps).
_LISTENERS: list[Callable[[list[m.AuditEvent]], None]] = []


def on_written(listener: Callable[[list[m.AuditEvent]], None]) -> None:
    """Call `listener` with each batch of events `AuditLog.flush` writes, in the same
    transaction (so what it writes commits or rolls back with the change); not when
    every LA the events name was locked in this transaction and its row said nothing
    listens (`locks.none_listened`: the outbox's own first test)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def audit_listeners_set(*, la_id: int, listening: bool) -> None:
    """Record on the LA's row whether a listener (a webhook endpoint of the LA or one of
    its schools) may want its events, under the LA's lock, taken here first. Every flush
    under that lock reads the row (`locks.la_lock`), so a flush that finds nothing listens
    skips the outbox's query, and one after an endpoint was added always looks."""
    from rollsync.directory.services import locks

    locks.la_lock(la_id=la_id)
    m.LocalAuthority.objects.filter(pk=la_id).update(events_listened=listening)
    locks.remember_listened(la_id=la_id, listened=listening)


# The columns of an event `AuditLog` writes by COPY (`bulk.copy_rows`), `at` first.
_COLUMNS = ("at", "action", "reason", "actor", "run_id", "school_id", "account_id", "changes")


class AuditLog:
    """Collects events during a service and writes them in one bulk insert. Each event's
    kind (`action`) is one of `models.AuditKind`; any other is refused, so the caller's
    transaction rolls back rather than write an event no one can find.

    Events are held as plain values, not model objects (a first import adds 66,000):
    on PostgreSQL they are written by COPY and made into `AuditEvent` objects only for
    listeners that may want them (`_listened`)."""

    def __init__(self, *, actor: str, run: m.SyncRun | None = None, school: m.School | None = None):
        self.actor = actor
        self.run = run
        self.school = school
        # (action, reason, account_id, school, changes as JSON values)
        self._events: list[tuple[str, str, int | None, m.School | None, Any]] = []

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
            (action, reason, account_id, school or self.school, jsonable(changes or {}))
        )

    def _event(self, held: tuple[str, str, int | None, m.School | None, Any]) -> m.AuditEvent:
        action, reason, account_id, school, changes = held
        return m.AuditEvent(
            action=action,
            reason=reason,
            actor=self.actor,
            run=self.run,
            school=school,
            account_id=account_id,
            changes=changes,
        )

    def flush_if_many(self, *, at_least: int = 5_000) -> int:
        """`flush` once this many events are held: a run's parts write theirs together
        at its end (one statement, not one a part), a first import's tens of thousands
        a slice at a time (memory)."""
        return self.flush() if len(self._events) >= at_least else 0

    def flush(self) -> int:
        held, self._events = self._events, []
        # Listeners hear of events unless every LA they name is known not to listen.
        listened = bool(_LISTENERS) and (not held or _listened(held))
        unsaved = (self.run is not None and self.run.pk is None) or any(
            e[3] is not None and e[3].pk is None for e in held
        )
        if not bulk.copying() or unsaved:  # (bulk_create refuses an unsaved run or school)
            # a run's slice of events in one statement (SQLite's parameter bound may cut it)
            events = [self._event(e) for e in held]
            m.AuditEvent.objects.bulk_create(events, batch_size=1000)
        else:
            # By COPY, all stamped with the time of the write (one statement: one time,
            # not a call a row, which cost a first import 66,000 calls); objects are made
            # only for listeners (with that time, and no key: nothing reads one back).
            at = timezone.now()
            run_id = self.run.pk if self.run is not None else None
            bulk.copy_rows(
                m.AuditEvent,
                _COLUMNS,
                [
                    (
                        at,
                        action,
                        reason,
                        self.actor,
                        run_id,
                        school.pk if school else None,
                        account,
                        changes,
                    )
                    for action, reason, account, school, changes in held
                ],
            )
            events = []
            for e in held if listened else ():
                event = self._event(e)
                event.at = at
                event._state.adding, event._state.db = False, connection.alias
                events.append(event)
        if listened:
            for listener in _LISTENERS:
                listener(events)
        return len(held)


def _listened(held: list[tuple[str, str, int | None, m.School | None, Any]]) -> bool:
    """Whether a listener may want these events: not when every school they name is of
    an LA whose row, read under its lock in this transaction, said nothing listens
    (`locks.none_listened`, as the webhook outbox asks first)."""
    from rollsync.directory.services import locks

    la_ids = {school.la_id for _, _, _, school, _ in held if school is not None}
    return not (la_ids and locks.none_listened(la_ids))


# --- reading events back: what the History column says --------------------------------------

_LABELS = {
    "account_status": "account",
    "school": "school",
    "case": "needs-matching case",
    "pupil": "pupil",
    "requested_single": "requested single",
    "memberships_ended": "memberships ended",
}


_FIRST = ("username", "mis_id", "status", "school", "account_status")


def _rank(name: str) -> tuple[int, str]:
    """One order on every database (PostgreSQL's jsonb does not keep the written order):
    who and which record first, then the fields in the order the product lists them."""
    from rollsync.planning.wording import FIELD_LABEL

    if name in _FIRST:
        return (_FIRST.index(name), "")
    fields = list(FIELD_LABEL)
    if name in fields:
        return (len(_FIRST) + fields.index(name), "")
    return (len(_FIRST) + len(fields), name)


def _label(name: str) -> str:
    from rollsync.planning.wording import FIELD_LABEL

    text = _LABELS.get(name) or FIELD_LABEL.get(name) or name.replace("_", " ")
    return text[:1].upper() + text[1:] if text[:1].islower() and text[:3] != "MIS" else text


def _shown(value: Any, names: Mapping[str, str]) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return names.get(str(value), str(value))


def change_lines(
    changes: Mapping[str, Any], *, school_names: Mapping[str, str] | None = None
) -> list[str]:
    """One line per entry of an event's `changes`, with the real values: a field changed
    is `[old, new]` ("MIS ID: 2093 → 3107"); anything else is a value the event names
    ("Username: ahmed.k"). Events written before every change was a pair stored a
    username, MIS ID or school URN alone: they read as that value, never as its first
    and second characters. A school URN reads as the school's name where it is known."""
    names = school_names or {}
    lines = []
    for name, value in sorted(changes.items(), key=lambda item: _rank(item[0])):
        lookup = names if name == "school" else {}
        if isinstance(value, list | tuple) and len(value) == 2:
            old, new = value
            lines.append(f"{_label(name)}: {_shown(old, lookup)} → {_shown(new, lookup)}")
        elif isinstance(value, list | tuple):
            lines.append(f"{_label(name)}: {', '.join(_shown(v, lookup) for v in value)}")
        else:
            lines.append(f"{_label(name)}: {_shown(value, lookup)}")
    return lines
