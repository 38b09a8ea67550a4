"""The lock helpers: a lost race is tried again, anything else is not, and a database
error's message (which can name another school's username) never reaches a run."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError

from rollsync.directory.services import locks


class _PgError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _db_error(kind: type[Exception], message: str, sqlstate: str) -> Exception:
    exc = kind(message)
    exc.__cause__ = _PgError(message, sqlstate)
    return exc


TAKEN = 'duplicate key value violates unique constraint "directory_account_username_key"\nDETAIL:  Key (username)=(mjackson2.670) already exists.'


def test_a_lost_race_is_tried_again_until_it_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "pause", lambda attempt: None)
    tries: list[int] = []

    def write() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise _db_error(IntegrityError, TAKEN, "23505")
        return "done"

    assert locks.retrying(write) == "done"
    assert len(tries) == 3


@pytest.mark.parametrize(
    ("kind", "message", "sqlstate", "lost"),
    [
        (OperationalError, "deadlock detected", "40P01", True),
        (OperationalError, "could not serialize access", "40001", True),
        (IntegrityError, TAKEN, "23505", True),
        (IntegrityError, "null value in column", "23502", False),
        (OperationalError, "database is locked", "", True),
    ],
)
def test_which_errors_are_lost_races(
    kind: type[Exception], message: str, sqlstate: str, lost: bool
) -> None:
    exc = _db_error(kind, message, sqlstate) if sqlstate else kind(message)
    assert locks.is_lost_race(exc) is lost


def test_an_error_that_is_no_race_is_raised_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "pause", lambda attempt: None)
    tries: list[int] = []

    def write() -> None:
        tries.append(1)
        raise _db_error(IntegrityError, "null value in column", "23502")

    with pytest.raises(IntegrityError):
        locks.retrying(write)
    assert len(tries) == 1


def test_a_database_message_never_reaches_a_run() -> None:
    exc = _db_error(IntegrityError, TAKEN, "23505")
    try:
        raise exc
    except IntegrityError as caught:
        said, detail = locks.public_error(caught), locks.public_traceback(caught)
    assert "mjackson" not in said and "mjackson" not in detail
    assert said.startswith("IntegrityError: other runs kept changing the same records")
