"""`StateIndex` builds its look-ups over the accounts on first use: a run that never
asks for them does no work for them, and one that asks gets what a pass over the
accounts in account_id order gives."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from rollsync.domain.records import Role
from rollsync.domain.state import DirectoryState
from rollsync.matching.normalise import email_key, full_name_key, phone_key
from rollsync.planning import index as index_module
from rollsync.planning.index import StateIndex
from tests.planning.helpers import LOCAL, Directory, contact, pupil, staff

BORN = date(2015, 3, 14)


def _state() -> DirectoryState:
    d = Directory()
    # added out of account_id order: the look-ups still list accounts in that order
    d.add(pupil("P3", "Amy", "Smith", date_of_birth=BORN, upn="A1"), account_id=7)
    d.add(pupil("P1", "amy", "SMITH", date_of_birth=BORN), account_id=3)
    d.add(pupil("P2", "Ben", "Smith", date_of_birth=BORN, upn="A2"), account_id=5)
    d.add(pupil("P9", "Ben", "Smith", date_of_birth=BORN, upn="A1"), account_id=9, urn=LOCAL)
    d.add(contact("C1", "Pat", "Smith", email="Pat@X.org", phone="07700 900001"), account_id=4)
    d.add(contact("C2", "Pat", "Smith", email="pat@x.org"), account_id=2)
    d.add(staff("S1", "Sam", "Jones", date_of_birth=date(1980, 2, 3)), account_id=8)
    return d.state()


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []

    def counted(*args: Any) -> Any:
        calls.append(args)
        return full_name_key(*args)

    monkeypatch.setattr(index_module, "full_name_key", counted)
    return calls


def test_an_index_asked_only_by_mis_id_makes_no_name_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    index = StateIndex(_state())
    assert index.here_by_key(Role.PUPIL, "P1") is not None
    assert index.allocations_of(7) and index.location(9, Role.PUPIL).school_urn == LOCAL
    assert calls == []
    assert index.name_keys[3] == full_name_key("amy", "SMITH")
    assert len(calls) == len(index.accounts)
    index.accounts_with_name_dob(Role.PUPIL, index.name_keys[3], BORN)
    index.accounts_with_name_and_detail(Role.CONTACT, index.name_keys[4], "pat@x.org")
    assert len(calls) == len(index.accounts)  # made once, for every look-up


def test_the_look_ups_answer_as_a_pass_over_the_accounts_in_order() -> None:
    state = _state()
    index = StateIndex(state)
    ordered = sorted(state.accounts.values(), key=lambda a: a.account_id)
    for account in ordered:
        key = full_name_key(account.legal_given_name, account.legal_family_name)
        assert index.name_keys[account.account_id] == key
        if account.date_of_birth is not None:
            assert index.accounts_with_name_dob(account.role, key, account.date_of_birth) == [
                a.account_id
                for a in ordered
                if (a.role, full_name_key(a.legal_given_name, a.legal_family_name))
                == (account.role, key)
                and a.date_of_birth == account.date_of_birth
            ]
            assert index.accounts_born_on(account.role, account.date_of_birth) == [
                a.account_id
                for a in ordered
                if a.role == account.role and a.date_of_birth == account.date_of_birth
            ]
    assert index.accounts_with_name_dob(Role.PUPIL, full_name_key("Amy", "Smith"), BORN) == [3, 7]
    assert index.accounts_born_on(Role.PUPIL, BORN) == [3, 5, 7, 9]
    assert index.accounts_with_upn("A1", Role.PUPIL) == [7, 9]
    assert index.accounts_with_upn("A1", Role.STAFF) == []
    pat = full_name_key("Pat", "Smith")
    assert index.accounts_with_name_and_detail(Role.CONTACT, pat, email_key("pat@x.org")) == [2, 4]
    assert index.accounts_with_name_and_detail(Role.CONTACT, pat, phone_key("07700 900001")) == [4]
    assert index.accounts_with_name_and_detail(Role.PUPIL, pat, "pat@x.org") == []


def test_the_accounts_held_by_keys_are_the_first_key_of_each_in_key_order() -> None:
    d = Directory()
    d.add(pupil("P2"), account_id=1)
    d.add(pupil("P1"), account_id=1)  # a second place here on the same account
    d.add(pupil("P3"), account_id=2)
    index = StateIndex(d.state())
    keys = frozenset(
        {(Role.PUPIL, "P3"), (Role.PUPIL, "P2"), (Role.PUPIL, "P1"), (Role.STAFF, "X")}
    )
    held = index.accounts_held_by(keys)
    assert list(held.items()) == [(1, (Role.PUPIL, "P1")), (2, (Role.PUPIL, "P3"))]
    held.clear()  # the caller's copy: asked again, the same answer
    assert list(index.accounts_held_by(keys).items()) == [
        (1, (Role.PUPIL, "P1")),
        (2, (Role.PUPIL, "P3")),
    ]
    assert index.accounts_held_by(frozenset({(Role.PUPIL, "P2")})) == {1: (Role.PUPIL, "P2")}
