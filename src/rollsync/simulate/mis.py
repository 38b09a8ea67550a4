"""The MIS a simulated school runs: which formats it exports, which reports, and
what its own identifiers look like.

Identifiers are the school's own and stable across days; a change of MIS gives
every person and group a new one at once (and two MIS can use overlapping
integer ranges, as real ones do, so only (school, day, MIS ID) is a key).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from rollsync.domain import reports as r
from rollsync.domain.mis import MIS_CATALOGUE
from rollsync.domain.records import Role

FORMATS = ("ctf", "oneroster", "sds", "csv")

# Which MIS plausibly produce each format.
FORMAT_MIS: dict[str, tuple[str, ...]] = {
    "csv": ("SIMS", "Arbor", "Bromcom", "ScholarPack", "Integris", "Pupil Asset", "IRIS iSAMS"),
    "ctf": ("SIMS", "ScholarPack", "Integris", "Bromcom"),
    "oneroster": ("Arbor", "Bromcom", "IRIS iSAMS", "SIMS"),
    "sds": ("Bromcom", "IRIS iSAMS", "Arbor", "SIMS"),
}

# The reports each MIS sends as rollsync CSV: every report it can send (domain.mis).
CSV_REPORTS: dict[str, frozenset[str]] = {
    name: info.reports for name, info in MIS_CATALOGUE.items() if name != "Standard files"
}

# Bundles carry future starters as people with a later begin date.
_BUNDLE_REPORTS = frozenset(
    {r.STUDENTS, r.STAFF, r.CONTACTS, r.GROUPS, r.STUDENTS_FUTURE, r.STAFF_FUTURE}
)


def export_reports(mis: str, fmt: str) -> frozenset[str]:
    """The reports a school's daily export carries, by its MIS and format."""
    if fmt == "ctf":
        return frozenset({r.STUDENTS, r.CONTACTS})  # a CTF is pupils and their contacts only
    if fmt in ("oneroster", "sds"):
        return _BUNDLE_REPORTS
    if fmt == "csv":
        return CSV_REPORTS[mis]
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


@dataclass(slots=True)
class IdAllocator:
    """Hands out one MIS's identifiers at one school (unique across roles)."""

    mis: str
    rng: random.Random
    next_person: int = 0
    next_group: int = 0
    issued: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, mis: str, rng: random.Random) -> IdAllocator:
        base = {"SIMS": rng.randint(1200, 6000), "Bromcom": rng.randint(100000, 400000)}
        return cls(mis=mis, rng=rng, next_person=base.get(mis, rng.randint(100, 900)))

    def person(self, role: Role) -> str:
        while True:
            candidate = self._person(role)
            if candidate not in self.issued:
                self.issued.add(candidate)
                return candidate

    def _person(self, role: Role) -> str:
        # SIMS-style integers leave small gaps (deleted or applicant records).
        self.next_person += 1 + (self.rng.random() < 0.2) * self.rng.randint(1, 4)
        n = self.next_person
        if self.mis in ("SIMS", "Bromcom"):
            return str(n)
        if self.mis == "Arbor":
            return {Role.PUPIL: "STU", Role.STAFF: "STF", Role.CONTACT: "GUA"}[role] + f"-{n}"
        if self.mis == "ScholarPack":
            return f"SP{n:06d}"
        if self.mis == "Integris":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4)).upper()
        if self.mis == "Pupil Asset":
            return f"PA-{n}"
        if self.mis == "IRIS iSAMS":
            letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
            return "".join(self.rng.choice(letters) for _ in range(12))
        raise ValueError(f"unknown MIS {self.mis!r}")

    def group(self) -> str:
        self.next_group += 1
        n = self.next_group
        if self.mis == "SIMS":
            return str(10000 + n)
        if self.mis == "Arbor":
            return f"GRP-{n}"
        if self.mis == "Integris":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4)).upper()
        return f"G{n:05d}"
