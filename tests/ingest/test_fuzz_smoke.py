"""A few mutated exports per importer in every test run (`./dev fuzz` runs the same
targets for as long as it is given): parse never raises for bad input, and every
batch keeps the importers' promises (`fuzz.targets.check`)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.targets import Target, check, check_in_part, parse, payloads, targets

TARGETS = {target.name: target for target in targets()}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutated_exports_never_crash_a_parser(name: str) -> None:
    target: Target = TARGETS[name]

    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(payloads(target))
    def one(payload: bytes) -> None:
        check(parse(target, payload))
        if target.in_part:
            check_in_part(target, payload)

    one()
