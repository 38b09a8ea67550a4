"""The snapshot builds its state objects from value rows by position
(`selectors._ACCOUNT_COLUMNS`, `selectors._ALLOCATION_COLUMNS`): the columns must stay in
the order of the state's fields, and every field must read the stored value of its name."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services.sync import sync_run_execute
from rollsync.domain.records import ImportBatch
from rollsync.domain.state import AccountState, AllocationState
from tests.directory.helpers import pupil
from tests.tasks.helpers import store

DAY = date(2026, 9, 7)


def test_the_columns_are_in_the_order_of_the_state_fields() -> None:
    account = [f.name for f in fields(AccountState)]
    allocation = [f.name for f in fields(AllocationState)]
    assert account == ["account_id", *selectors._ACCOUNT_COLUMNS[1:]]
    renamed = {"id": "allocation_id", "school_id": "school_urn"}
    assert allocation == [renamed.get(c, c) for c in selectors._ALLOCATION_COLUMNS]


def test_every_state_field_reads_the_stored_value_of_its_name(db: Any) -> None:
    from rollsync.directory.services.schools import school_add, school_report_set

    school = school_add(urn="300001", la_code="300", estab="2001", name="Hillside")
    for report in ("students", "staff"):
        school_report_set(school=school, report=report, accepted=True, actor="test")
    pupils = [
        pupil(
            "P1",
            "Ada",
            "Okafor",
            "2015-03-14",
            preferred_given_name="Addy",
            preferred_family_name="Oka",
            middle_names="Grace",
            gender="F",
            upn="A123456789012",
            start_date="2021-09-01",
            leaving_date="2027-07-20",
            year_group="5",
            registration_group="5B",
            email="ada@example.org",
            postcode="AB1 2CD",
            address="1 High Street",
        )
    ]
    staff = [
        {
            "mis_id": "S1",
            "legal_given_name": "Rhian",
            "legal_family_name": "Pryce",
            "date_of_birth": "1980-02-03",
            "gender": "F",
            "title": "Ms",
            "staff_code": "RPR",
            "email": "rhian@example.org",
            "phone": "01234 567890",
        }
    ]
    for report, rows in (("students", pupils), ("staff", staff)):
        run = sync_run_execute(upload=store(school, rows, report=report), as_of=DAY)
        assert run.status == "applied", run.errors
    batch = ImportBatch(source_format="csv", reports=frozenset(), complete_for=frozenset())
    state = selectors.directory_state_for(school=school, batch=batch, scoped=False)

    assert len(state.accounts) == 2 and len(state.allocations) == 2
    for account in state.accounts.values():
        stored = m.Account.objects.get(pk=account.account_id)
        for name in (f.name for f in fields(AccountState)):
            if name != "account_id":
                want = getattr(stored, name)
                assert getattr(account, name) == (want or None if name == "gender" else want)
    for allocation in state.allocations:
        stored_place = m.Allocation.objects.select_related("school").get(
            pk=allocation.allocation_id
        )
        assert allocation.school_urn == stored_place.school.urn
        for name in (f.name for f in fields(AllocationState)):
            if name not in ("allocation_id", "school_urn"):
                want = getattr(stored_place, name)
                if name == "source_report":
                    want = want or None
                assert getattr(allocation, name) == want, name
