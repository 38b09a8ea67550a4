"""One school's export for one day, independent of format.

`build_snapshot` applies what the school's MIS would show that day: who is on
roll (started, not yet gone, not removed), future starters (only where the
export carries them), the MIS's own typos, the contacts of the pupils listed,
group memberships and the day's attendance marks. Every writer reads a
`SchoolSnapshot`, so the four formats always say the same thing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from rollsync.domain import reports as r
from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role
from rollsync.simulate.build import pupil_group_keys
from rollsync.simulate.mis import export_reports
from rollsync.simulate.model import Address, Enrolment, Person, School, World


@dataclass(frozen=True, slots=True)
class ExportPerson:
    role: Role
    mis_id: str
    person_id: str
    legal_given: str
    legal_family: str
    gender: Gender
    dob: date
    preferred_given: str | None = None
    preferred_family: str | None = None
    middle: str | None = None
    upn: str | None = None
    start_date: date | None = None
    leaving_date: date | None = None
    year_group: str | None = None
    reg_group: str | None = None
    title: str | None = None
    staff_code: str | None = None
    staff_role: str | None = None  # head, teacher, ta, office
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    future: bool = False


@dataclass(frozen=True, slots=True)
class ExportLink:
    contact_mis_id: str
    pupil_mis_id: str
    priority: int
    parental_responsibility: bool
    relationship: str
    ctf_code: str


@dataclass(frozen=True, slots=True)
class ExportGroup:
    mis_id: str
    name: str
    kind: GroupKind
    year: str
    subject: str | None
    members: tuple[tuple[Role, str, MembershipRole], ...]


@dataclass(frozen=True, slots=True)
class ExportMark:
    pupil_mis_id: str
    date: date
    session: str
    code: str


@dataclass(slots=True)
class SchoolSnapshot:
    day: int
    date: date
    la_code: str
    la_name: str
    urn: str
    estab: str
    school_name: str
    phase: str
    mis: str
    fmt: str
    domain: str  # the school's e-mail domain
    academic_year: int
    reports: frozenset[str]
    pupils: list[ExportPerson] = field(default_factory=list)  # current and (where sent) future
    staff: list[ExportPerson] = field(default_factory=list)
    contacts: list[ExportPerson] = field(default_factory=list)  # each contact once
    links: list[ExportLink] = field(default_factory=list)  # one per contact-pupil pair
    groups: list[ExportGroup] = field(default_factory=list)
    attendance: list[ExportMark] = field(default_factory=list)

    def truth_keys(self) -> list[tuple[str, str, str]]:
        """(role, key as the export shows it, person_id) for everyone this export lists."""
        out: list[tuple[str, str, str]] = []
        if self.fmt == "ctf":
            upn_of = {p.mis_id: p.upn or p.mis_id for p in self.pupils}
            pid_of = {c.mis_id: c.person_id for c in self.contacts}
            out.extend((Role.PUPIL.value, upn_of[p.mis_id], p.person_id) for p in self.pupils)
            out.extend(
                (
                    Role.CONTACT.value,
                    f"{upn_of[x.pupil_mis_id]}#{x.priority}",
                    pid_of[x.contact_mis_id],
                )
                for x in self.links
            )
            return out
        for group in (self.pupils, self.staff, self.contacts):
            out.extend((p.role.value, p.mis_id, p.person_id) for p in group)
        return out


# Weights for a session's mark: present most of the time (DfE attendance codes).
_AM_CODES = (
    ("/", 930),
    ("L", 20),
    ("I", 25),
    ("M", 5),
    ("N", 8),
    ("C", 5),
    ("O", 4),
    ("U", 2),
    ("B", 1),
)
_PM_CODES = (("\\", 935), ("L", 10), ("I", 28), ("M", 5), ("N", 8), ("C", 6), ("O", 5), ("B", 3))


def _on_roll(e: Enrolment, day: int, today: date) -> bool:
    if e.visible_from_day > day:
        return False
    if e.removed_day is not None and day >= e.removed_day:
        return False
    return not (e.leaving_date is not None and today > e.leaving_date)


def _export_person(
    role: Role, e: Enrolment, p: Person, future: bool, **extra: object
) -> ExportPerson:
    """A person as this school's MIS shows them: its own typos and overrides win."""
    return ExportPerson(
        role=role,
        mis_id=e.mis_id,
        person_id=p.person_id,
        legal_given=e.name_overrides.get("legal_given_name", p.legal_given),
        legal_family=e.name_overrides.get("legal_family_name", p.legal_family),
        gender=p.gender,
        dob=e.dob_override or p.dob,
        preferred_given=p.preferred_given,
        preferred_family=p.preferred_family,
        middle=p.middle,
        start_date=e.start_date,
        leaving_date=e.leaving_date,
        email=e.email,
        address=p.address,
        future=future,
        **extra,  # type: ignore[arg-type]
    )


def build_snapshot(
    world: World, school: School, day: int, *, reports: frozenset[str] | None = None
) -> SchoolSnapshot:
    today = world.date_of(day)
    carried = reports if reports is not None else export_reports(school.mis, school.fmt)
    snap = SchoolSnapshot(
        day=day,
        date=today,
        la_code=world.la_code,
        la_name=world.la_name,
        urn=school.urn,
        estab=school.estab,
        school_name=school.name,
        phase=school.phase,
        mis=school.mis,
        fmt=school.fmt,
        domain=school.domain,
        academic_year=world.academic_year,
        reports=carried,
    )
    people = world.people

    current_pupils: list[Enrolment] = []
    if r.STUDENTS in carried:
        for e in school.pupils.values():
            if not _on_roll(e, day, today):
                continue
            future = e.start_date > today
            if future and r.STUDENTS_FUTURE not in carried:
                continue
            snap.pupils.append(
                _export_person(
                    Role.PUPIL,
                    e,
                    people[e.person_id],
                    future,
                    # A school may hold no UPN for a pupil (hard cases: "upn" -> "").
                    upn=e.name_overrides.get("upn", people[e.person_id].upn) or None,
                    year_group=e.year_group,
                    reg_group=e.reg_group,
                    phone=None,
                )
            )
            if not future:
                current_pupils.append(e)

    if r.STAFF in carried:
        for e in school.staff.values():
            if not _on_roll(e, day, today):
                continue
            future = e.start_date > today
            if future and r.STAFF_FUTURE not in carried:
                continue
            p = people[e.person_id]
            snap.staff.append(
                _export_person(
                    Role.STAFF,
                    e,
                    p,
                    future,
                    title=p.title,
                    staff_code=e.staff_code,
                    staff_role=e.staff_role,
                    phone=p.phone,
                )
            )

    if r.CONTACTS in carried:
        seen: set[str] = set()
        for e in current_pupils:
            hh = world.households.get(people[e.person_id].household_id or "")
            if hh is None:
                continue
            for c in hh.contacts:
                cid = school.contact_ids[c.person_id]
                snap.links.append(
                    ExportLink(
                        cid,
                        e.mis_id,
                        c.priority,
                        c.parental_responsibility,
                        c.relationship,
                        c.ctf_code,
                    )
                )
                if cid in seen:
                    continue
                seen.add(cid)
                p = people[c.person_id]
                snap.contacts.append(
                    ExportPerson(
                        role=Role.CONTACT,
                        mis_id=cid,
                        person_id=p.person_id,
                        legal_given=p.legal_given,
                        legal_family=p.legal_family,
                        gender=p.gender,
                        dob=p.dob,
                        title=p.title,
                        email=p.email,
                        phone=p.phone,
                        address=p.address,
                    )
                )

    if r.GROUPS in carried:
        _groups(world, school, day, today, current_pupils, snap)
    if r.ATTENDANCE in carried:
        rng = random.Random(f"rollsync.simulate:{world.seed}:attendance:{school.urn}:{day}")
        am_codes = [c for c, _ in _AM_CODES]
        am_weights = [w for _, w in _AM_CODES]
        pm_codes = [c for c, _ in _PM_CODES]
        pm_weights = [w for _, w in _PM_CODES]
        for e in current_pupils:
            am = rng.choices(am_codes, am_weights)[0]
            pm = (
                am
                if am in ("I", "M", "C") and rng.random() < 0.8
                else rng.choices(pm_codes, pm_weights)[0]
            )
            snap.attendance.append(ExportMark(e.mis_id, today, "AM", am))
            snap.attendance.append(ExportMark(e.mis_id, today, "PM", pm))
    return snap


def _groups(
    world: World,
    school: School,
    day: int,
    today: date,
    pupils: list[Enrolment],
    snap: SchoolSnapshot,
) -> None:
    members: dict[str, list[tuple[Role, str, MembershipRole]]] = {}
    for e in pupils:
        for key in pupil_group_keys(school, e):
            members.setdefault(key, []).append((Role.PUPIL, e.mis_id, MembershipRole.STUDENT))
    teaching = {
        pid: e.mis_id
        for pid, e in school.staff.items()
        if _on_roll(e, day, today) and e.start_date <= today
    }
    for key, g in school.groups.items():
        pupils_in = members.get(key)
        if not pupils_in:
            continue
        rows: list[tuple[Role, str, MembershipRole]] = []
        if g.teacher_id is not None and g.teacher_id in teaching:
            rows.append((Role.STAFF, teaching[g.teacher_id], MembershipRole.TEACHER))
        rows.extend(pupils_in)
        snap.groups.append(ExportGroup(g.mis_id, g.name, g.kind, g.year, g.subject, tuple(rows)))
