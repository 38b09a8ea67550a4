from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services import sync
from rollsync.directory.services.schools import school_add
from tests.directory.helpers import FAR_URN, OTHER_URN, SCHOOL_URN, Cli, Compared, csv_bytes


@pytest.fixture
def school(db: Any) -> m.School:
    return school_add(
        urn=SCHOOL_URN, la_code="202", estab="2001", name="Hillside Primary", la_name="Northshire"
    )


@pytest.fixture
def other_school(db: Any) -> m.School:
    return school_add(urn=OTHER_URN, la_code="202", estab="2002", name="Riverside Academy")


@pytest.fixture
def far_school(db: Any) -> m.School:
    return school_add(
        urn=FAR_URN, la_code="303", estab="3001", name="Faraway High", la_name="Southshire"
    )


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    numbers = count(1)

    def write(report: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        path = tmp_path / f"{report}-{next(numbers)}.csv"
        path.write_bytes(csv_bytes(report, rows))
        return path

    return write


@pytest.fixture
def cli(db: Any) -> Cli:
    return Cli()


@pytest.fixture
def compare_every_plan(db: Any, monkeypatch: pytest.MonkeyPatch) -> Compared:
    """Every plan the service makes is made again from the whole school's snapshot."""
    real = sync.planning.plan
    seen = Compared()

    def both(batch: Any, state: Any, policy: Any, **kwargs: Any) -> Any:
        school = m.School.objects.get(urn=state.school.urn)
        whole = selectors.directory_state_for(school=school, batch=batch, scoped=False)
        scoped_plan = real(batch, state, policy, **kwargs)
        # The caller's index is of its own snapshot (`plan` refuses another's).
        whole_plan = real(batch, whole, policy, **{k: v for k, v in kwargs.items() if k != "index"})
        assert scoped_plan == whole_plan, (sorted(batch.reports), state.school.urn)
        seen.plans += 1
        if state.membership_count is not None:
            seen.leaving_out += bool(batch.unchanged_keys)
            assert whole.membership_count is None
            assert state.membership_count == len(whole.memberships)
            assert state.memberships <= whole.memberships
            # (The same when the people left out have no memberships: staff who teach
            # nothing, on a Staff file with a starter to match.)
            if state.memberships < whole.memberships:
                seen.fewer_memberships += 1
        if len(state.accounts) < len(whole.accounts):
            seen.fewer_accounts += 1
            seen.scoped["+".join(sorted(batch.reports))] += 1
        return scoped_plan

    monkeypatch.setattr(sync.planning, "plan", both)
    return seen


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[str]]]:
    """The MIS IDs each read in part built (none when it fell back to a full parse)."""
    from rollsync import ingest

    seen: list[set[str]] = []
    part = ingest.parse_changed

    def recorded(earlier: bytes, payload: bytes, **kw: Any) -> Any:
        batch = part(earlier, payload, **kw)
        seen.append(set() if batch is None else {p.mis_id for p in batch.people})
        return batch

    monkeypatch.setattr(ingest, "parse_changed", recorded)
    yield seen
