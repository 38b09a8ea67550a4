"""Locks and retries for writes that several processes may make at once.

One rule: every write that plans against local accounts or makes accounts (a sync run,
its approval, User Request Single, a needs-matching "create", a restore) first takes
the lock of the school's local authority (`la_lock`), inside its own transaction, as
its first lock. The planner's snapshot brings in accounts at every school of the LA,
so a plan made while another school of the LA was applying would be stale; under the
LA lock plan and apply see one directory, and usernames (`<local part>.<LA code>`) are
picked by one writer at a time.

Order: the LA lock is the only lock these services take before their own rows, and
they take no school lock after it, so no two of them can wait on each other in a
cycle. A caller that holds a school row lock in an outer transaction (the queue's task
body) then takes the LA lock after it; that is safe as long as nothing waits for a
school row while holding the LA lock, which none of these services does (they lock
the LA row with FOR NO KEY UPDATE, so writing rows that refer to a school or the LA
never waits on it either).

PostgreSQL: a row lock on the LocalAuthority (`SELECT ... FOR NO KEY UPDATE`).
SQLite: every write transaction is `BEGIN IMMEDIATE` (settings), which already lets
one writer at a time in; the row lock is a no-op there.

A race that is lost all the same (a deadlock the database broke, a serialization
failure, a username taken by a run of another LA of the region between the check and
the insert, SQLite's "database is locked" after its busy timeout) is retried by
`retrying`, never shown as a failed run. The messages of database errors can name
another school's data (a username, a key), so `public_error` never repeats them.
"""

from __future__ import annotations

import functools
import random
import time
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction

from rollsync.directory import models as m

T = TypeVar("T")

ATTEMPTS = 8  # tries of one write before its failure is recorded
_BACKOFF_SECONDS = 0.05  # first pause; doubled each try, with jitter, at most _MAX_PAUSE
_MAX_PAUSE = 2.0

# PostgreSQL SQLSTATEs of a lost race: serialization_failure, deadlock_detected,
# lock_not_available, unique_violation.
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03", "23505"})


def la_lock(*, school: m.School | None = None, la_id: int | None = None) -> None:
    """Take the LA's lock for the rest of the current transaction (re-entrant: taking
    it twice in one transaction is a no-op). Must be called inside `transaction.atomic`."""
    if la_id is None:
        if school is None:
            raise ValueError("la_lock needs a school or an LA id")
        la_id = school.la_id
    if not connection.in_atomic_block:
        raise RuntimeError("la_lock outside a transaction would be released at once")
    row = (
        m.LocalAuthority.objects.select_for_update(no_key=True)
        .filter(pk=la_id)
        .values_list("pk", "events_listened")
        .first()
    )
    if row is not None:
        remember_listened(la_id=la_id, listened=row[1])


class _Listened:
    """What an LA's row said of its listeners (`LocalAuthority.events_listened`) when this
    transaction locked it. Kept as a no-op on-commit callback so that it lives exactly as
    long as the transaction (or savepoint) that read it: Django drops its callbacks on
    commit and on a rollback, so a later transaction never trusts it."""

    __slots__ = ("la_id", "listened")

    def __init__(self, la_id: int, listened: bool) -> None:
        self.la_id = la_id
        self.listened = listened

    def __call__(self) -> None:
        return None


def remember_listened(*, la_id: int, listened: bool) -> None:
    """Note, for the rest of the current transaction, whether the LA is listened to."""
    if connection.in_atomic_block:
        transaction.on_commit(_Listened(la_id, bool(listened)))


def none_listened(la_ids: set[int]) -> bool:
    """True when every LA of `la_ids` was locked in the current transaction and its row
    said nothing listens for its events: the webhook outbox need not look (no query).
    An LA changes to listened only under its lock (`audit.audit_listeners_set`), so
    while this transaction holds the lock the answer stands. False means "look"."""
    if not la_ids or not connection.in_atomic_block:
        return False
    # A read made in a savepoint since released is not trusted either (an outer
    # transaction, such as a test's, may go on after the write that took the lock).
    live = set(connection.savepoint_ids)
    known: dict[int, bool] = {}
    for entry in getattr(connection, "run_on_commit", ()):
        sids, func = entry[0], entry[1]
        if isinstance(func, _Listened) and set(sids) <= live:
            known[func.la_id] = func.listened  # the latest read of this transaction wins
    return all(known.get(la_id) is False for la_id in la_ids)


def la_lock_for_school_id(school_id: int) -> None:
    """`la_lock` for a school known by its id (the LA id is read first, unlocked: a
    school never changes LA)."""
    la_id = m.School.objects.filter(pk=school_id).values_list("la_id", flat=True).first()
    if la_id is not None:
        la_lock(la_id=la_id)


def is_lost_race(exc: BaseException) -> bool:
    """A database error that another writer caused and that a fresh try may not meet."""
    if not isinstance(exc, (OperationalError, IntegrityError)):
        return False
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if sqlstate is not None:
        return sqlstate in _RETRY_SQLSTATES
    text = str(exc).lower()
    if isinstance(exc, OperationalError):  # SQLite: busy timeout passed
        return "database is locked" in text or "database table is locked" in text
    return "unique constraint failed" in text  # SQLite's unique violation


def pause(attempt: int) -> None:
    """Back off before try `attempt + 1` (jittered, so racing writers spread out)."""
    ceiling = min(_MAX_PAUSE, _BACKOFF_SECONDS * (2**attempt))
    time.sleep(random.uniform(ceiling / 2, ceiling))


def retrying(write: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Call `write` (which opens its own `transaction.atomic`) again after a lost race,
    up to `attempts` times; the last failure is raised. Inside a caller's transaction
    each try is a savepoint, rolled back before the next."""
    for attempt in range(attempts):
        try:
            return write()
        except (OperationalError, IntegrityError) as exc:
            if not is_lost_race(exc) or attempt == attempts - 1:
                raise
            pause(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def public_error(exc: BaseException) -> str:
    """What a run may say of an exception: a database error by its kind alone (its
    message can carry another school's usernames or keys), anything else as it is."""
    if isinstance(exc, DatabaseError):
        if is_lost_race(exc):
            return (
                f"{type(exc).__name__}: other runs kept changing the same records at the same"
                f" time ({ATTEMPTS} tries); run it again"
            )
        return f"{type(exc).__name__} (the database's message is withheld)"
    return repr(exc)


def public_traceback(exc: BaseException) -> str:
    """The traceback for the run's detail, with a database error's message withheld."""
    if isinstance(exc, DatabaseError):
        frames = "".join(traceback.format_tb(exc.__traceback__))
        return f"Traceback (most recent call last):\n{frames}{public_error(exc)}\n"
    return "".join(traceback.format_exception(exc))


def atomic_retrying(write: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """`retrying` around `write` run in its own `transaction.atomic` block."""

    def once() -> T:
        with transaction.atomic():
            return write()

    return retrying(once, attempts=attempts)


P = ParamSpec("P")


def retried(write: Callable[P, T]) -> Callable[P, T]:
    """Decorator form of `retrying`, for a service that is itself `transaction.atomic`
    (put it above that decorator, so each try is its own transaction or savepoint)."""

    @functools.wraps(write)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return retrying(lambda: write(*args, **kwargs))

    return wrapper
