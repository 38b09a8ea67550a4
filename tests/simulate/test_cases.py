"""The cases matching must get right exist in a small simulation, in the truth
and in the files themselves."""

from __future__ import annotations

from collections import defaultdict

from rollsync.domain.upn import is_temporary, normalise_upn
from tests.simulate.conftest import DAYS, Sim
from tests.simulate.readers import csv_rows, listed


def _schools_of(sim: Sim, person_id: str, day: int) -> set[str]:
    return {
        a["urn"]
        for a in sim.truth["allocations"]
        if a["person_id"] == person_id and a["first_day"] <= day <= a["last_day"]
    }


def test_every_upn_written_verifies(sim: Sim) -> None:
    upns: set[str] = set()
    for day in range(1, DAYS + 1):
        for s in sim.la["schools"]:
            upns |= {p.upn for p in listed(sim.out, day, s["urn"]) if p.role == "pupil"}
    assert len(upns) > 100
    for upn in upns:
        assert normalise_upn(upn) == upn
    temporary = {u for u in upns if is_temporary(u)}
    assert temporary, "a few pupils carry temporary UPNs"
    truth_temporary = {sim.truth["people"][pid]["upn"] for pid in sim.truth["temporary_upns"]}
    assert temporary <= truth_temporary


def test_twins_same_school_same_birthday_different_names(sim: Sim) -> None:
    people = sim.truth["people"]
    assert sim.truth["twins"]
    for a, b in sim.truth["twins"]:
        pa, pb = people[a], people[b]
        assert pa["household_id"] == pb["household_id"]
        assert pa["date_of_birth"] == pb["date_of_birth"]
        assert pa["legal_given_name"] != pb["legal_given_name"]
        if pa["gender"] == pb["gender"]:
            assert pa["legal_family_name"] == pb["legal_family_name"]
        assert pa["upn"] != pb["upn"]
        assert _schools_of(sim, a, 1) == _schools_of(sim, b, 1) != set()


def test_siblings_at_two_schools_share_one_contact(sim: Sim) -> None:
    spread = [s for s in sim.truth["siblings"] if s["several_schools"]]
    assert spread
    households = {h["household_id"]: h for h in sim.truth["households"]}
    found = False
    for s in spread:
        urns = set()
        for child in s["children"]:
            urns |= _schools_of(sim, child, 1)
        if len(urns) < 2:
            continue
        for contact in households[s["household_id"]]["contacts"]:
            if len(_schools_of(sim, contact["person_id"], 1)) >= 2:
                found = True  # one person, listed as a contact by two schools
    assert found
    shared = [c for c in sim.truth["shared_contacts"] if len(c["schools"]) >= 2]
    assert shared


def test_contact_priority_and_parental_responsibility(sim: Sim) -> None:
    for h in sim.truth["households"]:
        priorities = [c["priority"] for c in h["contacts"]]
        assert priorities == list(range(1, len(priorities) + 1))
        for c in h["contacts"]:
            if c["relationship"] in ("Mother", "Father", "Carer"):
                assert c["parental_responsibility"] is True
            if c["relationship"] in ("Grandmother", "Grandfather", "Step-father"):
                assert c["parental_responsibility"] is False


def test_staff_at_two_schools_have_two_mis_ids(sim: Sim) -> None:
    multi = sim.truth["staff_multi_school"]
    assert multi
    for m in multi:
        assert len(m["schools"]) >= 2  # a peripatetic teacher may work at three
        assert (
            len({p["urn"] for p in m["schools"]})
            == len({p["mis_id"] for p in m["schools"]})
            == len(m["schools"])
        )
        person = sim.truth["people"][m["person_id"]]
        for place in m["schools"]:
            staff = {
                p.key: p
                for p in listed(sim.out, place["first_day"], place["urn"])
                if p.role == "staff"
            }
            assert place["mis_id"] in staff
            assert staff[place["mis_id"]].given == person["legal_given_name"]
            assert staff[place["mis_id"]].dob == person["date_of_birth"]


def test_mover_keeps_upn_gets_new_mis_id(sim: Sim) -> None:
    assert sim.truth["movers"]
    for m in sim.truth["movers"]:
        assert m["from_urn"] != m["to_urn"]
        person = sim.truth["people"][m["person_id"]]
        assert m["upn"] == person["upn"]
        first = m["to_first_day_in_export"]
        last = m["from_last_day_in_export"]
        assert first == m["day"]
        assert last == (m["day"] if m["overlap"] else m["day"] - 1)
        arrived = {p.key: p for p in listed(sim.out, first, m["to_urn"]) if p.role == "pupil"}
        assert arrived[m["to_mis_id"]].upn == person["upn"]
        if last + 1 <= DAYS:
            gone = {p.key for p in listed(sim.out, last + 1, m["from_urn"]) if p.role == "pupil"}
            assert m["from_mis_id"] not in gone


def test_one_school_changes_mis_and_every_id_changes(sim: Sim) -> None:
    change = sim.truth["mis_change"]
    assert change is not None
    urn, day = change["urn"], change["day"]
    assert 2 <= day <= DAYS
    assert change["old_mis"] != change["new_mis"]
    assert change["old_format"] != change["new_format"]
    school = sim.manifest.school(urn)
    assert school.format_on(day - 1) == change["old_format"]
    assert school.format_on(day) == change["new_format"]
    assert school.mis_on(day) == change["new_mis"]
    assert change["id_map"]
    for row in change["id_map"]:
        assert row["old_mis_id"] != row["new_mis_id"]
    before = {p.key for p in listed(sim.out, day - 1, urn)}
    after = {p.key for p in listed(sim.out, day, urn)}
    assert before and after and not before & after
    # Same people either side (bar the day's own churn): truth maps both keys to them.
    pupils_before = set(sim.people_at(urn, day - 1, "pupil").values())
    pupils_after = set(sim.people_at(urn, day, "pupil").values())
    assert len(pupils_before & pupils_after) >= 0.9 * len(pupils_before)


def test_awkward_names_exist(sim: Sim) -> None:
    surnames = [
        p["legal_family_name"] for p in sim.truth["people"].values() if p["kind"] == "pupil"
    ]
    given = [p["legal_given_name"] for p in sim.truth["people"].values()]
    assert any("'" in s for s in surnames)
    assert any("-" in s for s in surnames)
    assert any(" " in s for s in surnames)  # van der Berg, Ní Bhriain, da Silva, St John
    assert any(not g.isascii() for g in given)
    preferred = [p for p in sim.truth["people"].values() if p["preferred_given_name"]]
    assert preferred


def test_dates_of_birth_fit_the_year_group(sim: Sim) -> None:
    typo_people = {t["person_id"] for t in sim.truth["typos"]}
    checked = 0
    for s in sim.la["schools"]:
        for e in [e for e in sim.manifest.files_for(day=1, urn=s["urn"]) if e.report == "students"]:
            if e.format != "csv":
                continue
            for row in csv_rows((sim.out / e.path).read_bytes()):
                pid = sim.people_at(s["urn"], 1, "pupil")[row["mis_id"]]
                if pid in typo_people:
                    continue
                y = 0 if row["year_group"] == "R" else int(row["year_group"])
                born = row["date_of_birth"]
                assert f"{2021 - y}-09-01" <= born <= f"{2022 - y}-08-31", row
                checked += 1
    assert checked > 10


def test_contacts_are_shared_by_siblings_within_a_school(sim: Sim) -> None:
    links: dict[str, set[str]] = defaultdict(set)
    for s in sim.la["schools"]:
        contacts = sim.people_at(s["urn"], 1, "contact")
        pupils = set(sim.people_at(s["urn"], 1, "pupil").values())
        households = {h["household_id"]: h for h in sim.truth["households"]}
        for pid in set(contacts.values()):
            hh = households[sim.truth["people"][pid]["household_id"]]
            links[pid] |= set(hh["children"]) & pupils
    assert any(len(children) >= 2 for children in links.values())
