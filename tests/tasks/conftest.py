"""Fixtures for the background worker tests. The worker claims each task in its own
transaction and checks its connection between tasks, as in production, so tests
that run it use `transactional_db` (committed data) rather than a wrapping transaction."""

from __future__ import annotations

from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from tests.directory.helpers import OTHER_URN, SCHOOL_URN


@pytest.fixture
def school(transactional_db: Any) -> m.School:
    return school_add(
        urn=SCHOOL_URN, la_code="202", estab="2001", name="Hillside Primary", la_name="Northshire"
    )


@pytest.fixture
def other_school(transactional_db: Any) -> m.School:
    return school_add(urn=OTHER_URN, la_code="202", estab="2002", name="Riverside Academy")
