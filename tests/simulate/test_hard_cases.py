"""The hard cases (`Realism(hard_cases=True)`): what real schools send, with the truth
to judge matching by. Off by default: the default LA is what other tests were written
against."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bench.matching_eval import Region, load_region
from rollsync.domain.records import Role
from rollsync.simulate import Realism, simulate_region
from rollsync.simulate.names import SIMILAR_TWINS
from tests.simulate.conftest import Sim

SEED = 5
DAYS = 5


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> Region:
    out = tmp_path_factory.mktemp("hard")
    simulate_region(
        out, schools=4, seed=SEED, days=DAYS, realism=Realism(scale=0.08, hard_cases=True)
    )
    return load_region(Path(out))


def _people(region: Region) -> dict[str, dict[str, Any]]:
    people: dict[str, dict[str, Any]] = region.truth["people"]
    return people


def _first_seen(region: Region) -> dict[str, tuple[int, str]]:
    """person_id -> (first day, school) of their first pupil allocation."""
    out: dict[str, tuple[int, str]] = {}
    for a in sorted(region.truth["allocations"], key=lambda a: (a["first_day"], a["urn"])):
        if a["role"] == "pupil":
            out.setdefault(a["person_id"], (a["first_day"], a["urn"]))
    return out


def test_the_hard_cases_are_off_by_default(sim: Sim) -> None:
    assert Realism().hard_cases is False
    similar = {name for pair in SIMILAR_TWINS for name, _ in pair}
    people = sim.truth["people"]
    assert all(t["day_fixed"] is not None for t in sim.truth["typos"])
    for first, second in sim.truth["twins"]:
        names = {people[first]["legal_given_name"], people[second]["legal_given_name"]}
        assert not names <= similar


def test_twins_with_similar_names_one_arriving_later_at_another_school(hard: Region) -> None:
    people, seen = _people(hard), _first_seen(hard)
    similar = {frozenset(name for name, _ in pair) for pair in SIMILAR_TWINS}
    pairs = [
        (a, b)
        for a, b in hard.truth["twins"]
        if frozenset({people[a]["legal_given_name"], people[b]["legal_given_name"]}) in similar
    ]
    assert len(pairs) == 4
    for a, b in pairs:
        assert people[a]["date_of_birth"] == people[b]["date_of_birth"]
        assert people[a]["household_id"] == people[b]["household_id"]
    later = [(a, b) for a, b in pairs if seen[b][0] == 2]
    assert later, "a second twin starts on day 2"
    for a, b in later:
        assert seen[a][0] == 1
        assert seen[a][1] != seen[b][1]  # at another school


def test_siblings_born_a_year_apart_to_the_day(hard: Region) -> None:
    people = _people(hard)
    by_household: dict[str, list[date]] = defaultdict(list)
    for p in people.values():
        if p["kind"] == "pupil":
            by_household[p["household_id"]].append(date.fromisoformat(p["date_of_birth"]))
    apart = [
        (x, y)
        for dobs in by_household.values()
        for x in dobs
        for y in dobs
        if y == x.replace(year=x.year + 1)
    ]
    assert len(apart) >= 4


def test_blended_families_two_surnames_at_one_address(hard: Region) -> None:
    people = _people(hard)
    surnames: dict[str, set[str]] = defaultdict(set)
    homes: dict[str, set[str]] = defaultdict(set)
    for p in people.values():
        if p["kind"] == "pupil":
            surnames[p["household_id"]].add(p["legal_family_name"])
            homes[p["household_id"]].add(p["postcode"])
    blended = [h for h, names in surnames.items() if len(names) >= 2 and len(homes[h]) == 1]
    assert len(blended) >= 4


def test_movers_arrive_with_a_slip_the_truth_records_and_the_export_shows(hard: Region) -> None:
    slips = [t for t in hard.truth["typos"] if t["day_fixed"] is None]
    assert {t["field"] for t in slips} >= {"legal_given_name", "date_of_birth", "upn"}
    mover_ids = {(m["to_urn"], m["to_mis_id"]) for m in hard.truth["movers"]}
    for t in slips:
        assert (t["urn"], t["mis_id"]) in mover_ids
        record = hard.days[t["day_introduced"]][t["urn"]].people[(Role.PUPIL, t["mis_id"])]
        shown = {
            "legal_given_name": record.legal_given_name,
            "date_of_birth": record.date_of_birth.isoformat() if record.date_of_birth else "",
            "upn": record.upn or "",
        }[t["field"]]
        assert shown == t["wrong"] != t["right"]


def test_a_parents_marriage_or_divorce_changes_a_movers_surname(hard: Region) -> None:
    changes = [
        c
        for c in hard.truth["name_changes"]
        if c["role"] == "pupil" and ("marriage" in c["reason"] or "divorce" in c["reason"])
    ]
    assert changes
    for c in changes:
        assert c["field"] == "legal_family_name"
        assert c["old"] != c["new"]
