from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from tests.directory.helpers import FAR_URN, OTHER_URN, SCHOOL_URN, Cli, csv_bytes


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
