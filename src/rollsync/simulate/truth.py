"""Ground truth: who every exported record really is, and what happened when.

`truth.json` (written by `simulate_region`) holds:

- `allocations`: one row per unbroken run of days a key appeared in a school's
  export: `{urn, role, mis_id, person_id, first_day, last_day}` (days inclusive).
  The (urn, day, mis_id) -> person_id lookup is `lookup(truth, urn, day, mis_id)`.
  `mis_id` is the key the export itself carries: the MIS ID in OneRoster, SDS
  and rollsync CSV; in a CTF (which has no MIS IDs) the pupil's UPN, and for a
  contact `"<pupil UPN>#<Order>"` (one key per contact-pupil link, so a contact
  shared by siblings has several keys that all map to one person_id).
- `people`: person_id -> who they were when first created (names, date of birth,
  gender, UPN, household). Later changes are in `name_changes`.
- `households`: contacts (priority, parental responsibility) and children.
- `twins`, `siblings` (with `several_schools`), `shared_contacts`,
  `staff_multi_school`, `temporary_upns`: the cases matching must get right.
- `starters`, `leavers`, `movers`, `name_changes`, `typos`, `mis_change`: the
  events, each with the day it happened and, where it shows in files, the first
  or last day it is visible (`first_day_in_export`, `last_day_in_export`).
- `days`: day number -> date; `schools`: each school's MIS and format by day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rollsync.simulate.model import Person, World

AllocKey = tuple[str, str, str, str]  # (urn, role, key, person_id)


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def person_facts(p: Person) -> dict[str, Any]:
    return {
        "kind": p.kind.value,
        "legal_given_name": p.legal_given,
        "legal_family_name": p.legal_family,
        "middle_names": p.middle,
        "preferred_given_name": p.preferred_given,
        "preferred_family_name": p.preferred_family,
        "date_of_birth": p.dob.isoformat(),
        "gender": p.gender.value,
        "upn": p.upn,
        "title": p.title,
        "household_id": p.household_id,
        "origin": p.origin,
        "postcode": p.address.postcode if p.address else None,
    }


@dataclass(slots=True)
class TruthRecorder:
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    starters: list[dict[str, Any]] = field(default_factory=list)
    leavers: list[dict[str, Any]] = field(default_factory=list)
    movers: list[dict[str, Any]] = field(default_factory=list)
    name_changes: list[dict[str, Any]] = field(default_factory=list)
    typos: list[dict[str, Any]] = field(default_factory=list)
    twins: list[list[str]] = field(default_factory=list)
    mis_change: dict[str, Any] | None = None
    _open: dict[AllocKey, list[int]] = field(default_factory=dict)
    _closed: list[tuple[AllocKey, int, int]] = field(default_factory=list)

    def register(self, person: Person) -> None:
        self.people.setdefault(person.person_id, person_facts(person))

    def observe(self, day: int, urn: str, keys: list[tuple[str, str, str]]) -> None:
        """Record that (role, key, person_id) appeared in the school's export today."""
        for role, key, person_id in keys:
            k = (urn, role, key, person_id)
            span = self._open.get(k)
            if span is not None and span[1] == day - 1:
                span[1] = day
                continue
            if span is not None:
                self._closed.append((k, span[0], span[1]))
            self._open[k] = [day, day]

    def allocations(self) -> list[dict[str, Any]]:
        rows = list(self._closed) + [(k, s[0], s[1]) for k, s in self._open.items()]
        rows.sort(key=lambda r: (r[0][0], r[1], r[0][1], r[0][2], r[0][3]))
        return [
            {
                "urn": k[0],
                "role": k[1],
                "mis_id": k[2],
                "person_id": k[3],
                "first_day": first,
                "last_day": last,
            }
            for k, first, last in rows
        ]

    def finalize(
        self, world: World, days: list[date], schools: list[dict[str, Any]]
    ) -> dict[str, Any]:
        allocations = self.allocations()
        spans: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for a in allocations:
            spans[(a["urn"], a["person_id"])].append((a["first_day"], a["last_day"]))

        def first_from(urn: str, person_id: str, day: int) -> int | None:
            starts = [f for f, _ in spans.get((urn, person_id), []) if f >= day]
            return min(starts) if starts else None

        def last_at(urn: str, person_id: str) -> int | None:
            ends = [last for _, last in spans.get((urn, person_id), [])]
            return max(ends) if ends else None

        for s in self.starters:
            s["first_day_in_export"] = first_from(s["urn"], s["person_id"], s["day"])
        for lv in self.leavers:
            lv["last_day_in_export"] = last_at(lv["urn"], lv["person_id"])
        for m in self.movers:
            m["from_last_day_in_export"] = last_at(m["from_urn"], m["person_id"])
            m["to_first_day_in_export"] = first_from(m["to_urn"], m["person_id"], m["day"])
        for t in self.typos:
            t.setdefault("day_fixed", None)

        households = []
        siblings = []
        shared_contacts = []
        child_schools: dict[str, set[str]] = defaultdict(set)
        for school in world.schools:
            for pid in school.pupils:
                child_schools[pid].add(school.urn)
        for hh in world.households.values():
            households.append(
                {
                    "household_id": hh.household_id,
                    "postcode": hh.address.postcode,
                    "contacts": [
                        {
                            "person_id": c.person_id,
                            "relationship": c.relationship,
                            "priority": c.priority,
                            "parental_responsibility": c.parental_responsibility,
                        }
                        for c in hh.contacts
                    ],
                    "children": list(hh.children),
                }
            )
            if len(hh.children) >= 2:
                urns = sorted({u for c in hh.children for u in child_schools[c]})
                siblings.append(
                    {
                        "household_id": hh.household_id,
                        "children": list(hh.children),
                        "schools": urns,
                        "several_schools": len(urns) >= 2,
                    }
                )
                for c in hh.contacts:
                    shared_contacts.append(
                        {"contact": c.person_id, "pupils": list(hh.children), "schools": urns}
                    )

        # Staff on two schools' rolls, from what the exports showed (MIS IDs as first seen).
        staff_at: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for a in allocations:
            if a["role"] == "staff":
                place = staff_at[a["person_id"]].setdefault(
                    a["urn"],
                    {
                        "urn": a["urn"],
                        "mis_id": a["mis_id"],
                        "first_day": a["first_day"],
                        "mis_ids": [],
                    },
                )
                place["mis_ids"].append(a["mis_id"])
        staff_multi: list[dict[str, Any]] = []
        for pid, places in sorted(staff_at.items()):
            if len(places) >= 2:
                staff_multi.append(
                    {"person_id": pid, "schools": [places[urn] for urn in sorted(places)]}
                )
        temporary = sorted(
            pid for pid, facts in self.people.items() if facts["upn"] and facts["upn"][-1].isalpha()
        )
        return {
            "about": __doc__,
            "format_version": 1,
            "seed": world.seed,
            "la": {"la_code": world.la_code, "la_name": world.la_name},
            "days": [{"day": i + 1, "date": d.isoformat()} for i, d in enumerate(days)],
            "schools": schools,
            "people": dict(sorted(self.people.items())),
            "allocations": allocations,
            "households": sorted(households, key=lambda h: h["household_id"]),
            "twins": self.twins,
            "siblings": siblings,
            "shared_contacts": shared_contacts,
            "staff_multi_school": staff_multi,
            "temporary_upns": temporary,
            "starters": self.starters,
            "leavers": self.leavers,
            "movers": self.movers,
            "name_changes": self.name_changes,
            "typos": self.typos,
            "mis_change": self.mis_change,
        }


def lookup(truth: dict[str, Any], urn: str, day: int, mis_id: str) -> str | None:
    """The person_id behind `mis_id` in school `urn`'s export of `day`, if any."""
    for a in truth["allocations"]:
        if a["urn"] == urn and a["mis_id"] == mis_id and a["first_day"] <= day <= a["last_day"]:
            return str(a["person_id"])
    return None


def index(truth: dict[str, Any]) -> dict[tuple[str, int, str], str]:
    """Every (urn, day, mis_id) -> person_id, for evaluations that look up many."""
    out: dict[tuple[str, int, str], str] = {}
    for a in truth["allocations"]:
        for day in range(a["first_day"], a["last_day"] + 1):
            out[(a["urn"], day, a["mis_id"])] = a["person_id"]
    return out
