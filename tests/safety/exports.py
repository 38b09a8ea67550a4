"""Real simulator exports for the safety suite: one small school, day 1 (the baseline)
and day 2 (to be mutated), rendered in every format, with who every row is.

Pure Python and deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache

from rollsync.domain import reports as r
from rollsync.domain.records import Role
from rollsync.simulate.build import build_world
from rollsync.simulate.churn import apply_day
from rollsync.simulate.options import Realism
from rollsync.simulate.snapshot import ExportPerson, SchoolSnapshot, build_snapshot
from rollsync.simulate.truth import TruthRecorder
from rollsync.simulate.writers import render

# About this many pupils (with their staff, contacts and classes): small enough for
# 2,000 synced cases per database in a few minutes, big enough for leavers, a surname
# change, contacts shared by siblings and a guard threshold above one person.
PUPILS = 12
FORMATS = ("csv", "ctf", "oneroster", "sds")
# The reports a rollsync CSV school sends one file each for, people before relations.
CSV_REPORTS = ("students", "staff", "contacts", "groups", "attendance")
# Identity fields of an account: what no export may rewrite unless it states it plainly.
IDENTITY_FIELDS = (
    "legal_given_name",
    "legal_family_name",
    "preferred_given_name",
    "preferred_family_name",
    "middle_names",
    "date_of_birth",
    "gender",
    "upn",
)


@dataclass(frozen=True)
class Upload:
    """One delivery: bytes, format and (for rollsync CSV) report."""

    name: str
    payload: bytes
    fmt: str
    report: str = ""


@dataclass
class SchoolExports:
    """One simulated school: its URN/LA, day 1 and day 2 snapshots, and files."""

    fmt: str
    urn: str
    la_code: str
    la_name: str
    estab: str
    name: str
    day1: SchoolSnapshot
    day2: SchoolSnapshot
    files1: dict[str, bytes]
    files2: dict[str, bytes]
    dates: tuple[date, date]
    people: dict[str, ExportPerson] = field(default_factory=dict)  # person_id -> day 2 (else 1)

    def uploads(self, day: int) -> list[Upload]:
        files = self.files1 if day == 1 else self.files2
        return uploads_for(self.fmt, files)

    def key_person(self, day: int) -> dict[tuple[str, str], str]:
        """(role, key as the file shows it) -> person_id, for every person of that day."""
        snap = self.day1 if day == 1 else self.day2
        out: dict[tuple[str, str], str] = {}
        for p in (*snap.pupils, *snap.staff, *snap.contacts):
            out[(p.role.value, row_key(self.fmt, p))] = p.person_id
        return out


def row_key(fmt: str, p: ExportPerson) -> str:
    """What identifies a person's row in `fmt`: the MIS ID, a pupil's UPN in a CTF."""
    if fmt == "ctf" and p.role is Role.PUPIL:
        return p.upn or ""
    return p.mis_id


def uploads_for(fmt: str, files: dict[str, bytes]) -> list[Upload]:
    if fmt == "csv":
        return [
            Upload(f"{report}.csv", files[f"{report}.csv"], fmt, report)
            for report in CSV_REPORTS
            if f"{report}.csv" in files
        ]
    return [Upload(name, body, fmt) for name, body in sorted(files.items())]


# One seed and LA per format, so the four schools share no one (no cross-school matches).
_SEEDS = {"csv": 11, "ctf": 12, "oneroster": 13, "sds": 14}
_LAS = {"csv": "871", "ctf": "872", "oneroster": "873", "sds": "874"}


@cache
def school_exports(fmt: str, *, pupils: int = PUPILS) -> SchoolExports:
    """A primary school of about `pupils` pupils (with their staff, contacts, classes
    and attendance) on day 1 and day 2 of a simulation, in `fmt`."""
    opts = Realism(
        primary_size=(pupils, pupils),
        secondary_size=(pupils, pupils),
        mis_change=False,
        staff_multi_school=0,
    )
    world, gen = build_world(
        seed=_SEEDS[fmt],
        n_schools=1,
        days=2,
        start=date(2026, 9, 1),
        opts=opts,
        rec=TruthRecorder(),
        la_code=_LAS[fmt],
        phases=["Primary"],
        formats=["csv"],
    )
    school = world.schools[0]
    carried = frozenset(r.CATALOGUE) - {r.STUDENTS_FUTURE, r.STAFF_FUTURE}
    day1 = build_snapshot(world, school, 1, reports=carried)
    apply_day(gen, 2)
    day2 = build_snapshot(world, school, 2, reports=carried)
    people = {p.person_id: p for p in (*day1.pupils, *day1.staff, *day1.contacts)}
    people.update({p.person_id: p for p in (*day2.pupils, *day2.staff, *day2.contacts)})
    return SchoolExports(
        fmt=fmt,
        urn=school.urn,
        la_code=world.la_code,
        la_name=world.la_name,
        estab=school.estab,
        name=school.name,
        day1=day1,
        day2=day2,
        files1=render(day1, fmt),
        files2=render(day2, fmt),
        dates=(world.date_of(1), world.date_of(2)),
        people=people,
    )


def stated_identity(p: ExportPerson) -> dict[str, object]:
    """The identity values a record of `p` states, as the directory stores them."""
    return {
        "legal_given_name": p.legal_given,
        "legal_family_name": p.legal_family,
        "preferred_given_name": p.preferred_given,
        "preferred_family_name": p.preferred_family,
        "middle_names": p.middle,
        "date_of_birth": p.dob,
        "gender": p.gender.value,
        "upn": p.upn,
    }
