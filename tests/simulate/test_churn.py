"""Day-to-day change: what the files show matches the events truth records."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from rollsync.simulate.text import ascii_fold, misspell, surname_form
from tests.simulate.conftest import DAYS, Sim
from tests.simulate.readers import listed, pupil_keys


def test_day_two_differs_from_day_one_by_the_recorded_starters_and_leavers(sim: Sim) -> None:
    truth = sim.truth
    change = truth["mis_change"]
    total_changes = 0
    for s in sim.la["schools"]:
        urn = s["urn"]
        if change and change["urn"] == urn and change["day"] == 2:
            continue  # every key changes that day: covered by the MIS-change test
        day1, day2 = pupil_keys(sim.out, 1, urn), pupil_keys(sim.out, 2, urn)
        expected_in = {
            x["mis_id"]
            for x in truth["starters"]
            if x["urn"] == urn and x["role"] == "pupil" and x["first_day_in_export"] == 2
        } | {
            m["to_mis_id"]
            for m in truth["movers"]
            if m["to_urn"] == urn and m["to_first_day_in_export"] == 2
        }
        expected_out = {
            x["mis_id"]
            for x in truth["leavers"]
            if x["urn"] == urn and x["role"] == "pupil" and x["last_day_in_export"] == 1
        } | {
            m["from_mis_id"]
            for m in truth["movers"]
            if m["from_urn"] == urn and m["from_last_day_in_export"] == 1
        }
        assert day2 - day1 == expected_in, urn
        assert day1 - day2 == expected_out, urn
        total_changes += len(expected_in) + len(expected_out)
    assert total_changes >= 3  # a starter, a removed leaver, a mover at least


def test_day_two_holds_every_kind_of_event(sim: Sim) -> None:
    truth = sim.truth
    on_day_2 = [x for x in truth["starters"] if x["day"] == 2]
    assert any(x["role"] == "pupil" and not x["future"] for x in on_day_2)
    assert any(x["role"] == "pupil" and x["future"] for x in on_day_2)
    assert any(x["role"] == "staff" for x in on_day_2)
    modes = {x["mode"] for x in truth["leavers"] if x["day"] == 2}
    assert modes == {"removed", "leaving_date"}
    assert any(m["day"] == 2 for m in truth["movers"])
    changes = [c for c in truth["name_changes"] if c["day"] == 2]
    assert {(c["role"], c["field"]) for c in changes} >= {
        ("pupil", "legal_family_name"),
        ("staff", "legal_family_name"),
        ("pupil", "preferred_given_name"),
    }


def test_current_starter_listed_from_its_day_with_its_start_date(sim: Sim) -> None:
    for x in sim.truth["starters"]:
        if x["future"] or (x["role"] == "staff" and sim.format_on(x["urn"], x["day"]) == "ctf"):
            continue  # a CTF lists no staff
        keys = {p.key for p in listed(sim.out, x["day"], x["urn"]) if p.role == x["role"]}
        assert x["mis_id"] in keys
        before = {p.key for p in listed(sim.out, x["day"] - 1, x["urn"]) if p.role == x["role"]}
        assert x["mis_id"] not in before


def test_leaver_with_a_date_stays_listed_until_that_date(sim: Sim) -> None:
    dated = [x for x in sim.truth["leavers"] if x["mode"] == "leaving_date"]
    assert dated
    dates = [d.isoformat() for d in sim.manifest.dates]
    for x in dated:
        last = x["last_day_in_export"]
        if x["role"] == "staff" and sim.format_on(x["urn"], x["day"]) == "ctf":
            assert last is None  # a CTF lists no staff
            continue
        assert last is not None
        assert dates[last - 1] <= x["leaving_date"]
        if last < DAYS:
            assert dates[last] > x["leaving_date"]


def _record(sim: Sim, urn: str, day: int, key: str, role: str = "pupil") -> tuple[str, str, str]:
    (p,) = [p for p in listed(sim.out, day, urn) if p.key == key and p.role == role]
    return p.given, p.family, p.dob


def test_typos_shown_until_fixed_on_day_three(sim: Sim) -> None:
    fields = {t["field"] for t in sim.truth["typos"]}
    assert "date_of_birth" in fields and fields & {"legal_given_name", "legal_family_name"}
    checked = 0
    for t in sim.truth["typos"]:
        if t["day_introduced"] != 1 or t["day_fixed"] != 3:
            continue
        pid = t["person_id"]
        index = {"legal_given_name": 0, "legal_family_name": 1, "date_of_birth": 2}[t["field"]]
        for day, expected in ((1, t["wrong"]), (2, t["wrong"]), (3, t["right"])):
            key = next(
                (k for k, v in sim.people_at(t["urn"], day, t["role"]).items() if v == pid), None
            )
            if key is None:
                assert day == 3  # fixed, then left the same day
                continue
            assert _record(sim, t["urn"], day, key)[index] == expected
            checked += 1
    assert checked >= 4


def test_surname_changes_show_at_every_school_from_their_day(sim: Sim) -> None:
    checked = 0
    for c in sim.truth["name_changes"]:
        if c["field"] != "legal_family_name":
            continue
        for urn in c["schools"]:
            keys = {day: sim.people_at(urn, day, c["role"]) for day in (c["day"] - 1, c["day"])}
            for day, expected in ((c["day"] - 1, c["old"]), (c["day"], c["new"])):
                key = next((k for k, v in keys[day].items() if v == c["person_id"]), None)
                if key is None:
                    continue  # a CTF lists no staff; a pupil may also leave the same day
                assert _record(sim, urn, day, key, c["role"])[1] == expected
                checked += 1
    assert checked >= 2


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzéëłó", min_size=2, max_size=12))
def test_a_misspelling_always_differs(name: str) -> None:
    assert misspell(name, random.Random(1)) != name


def test_text_helpers() -> None:
    assert ascii_fold("Łukasz Ó Briain Zoë") == "Lukasz O Briain Zoe"
    assert surname_form("Kowalski|Kowalska", female=True) == "Kowalska"
    assert (
        surname_form("Kazlauskas|Kazlauskaitė|Kazlauskienė", female=True, married=True)
        == "Kazlauskienė"
    )
    assert surname_form("O'Brien", female=True) == "O'Brien"
