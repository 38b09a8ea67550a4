"""Day-by-day change: starters, leavers, movers, renames, fixed typos, and the
one school that changes MIS.

Each day draws from its own seeded stream, so a day's events depend only on the
seed and the world as it stands. With `guarantee_examples`, day 2 always holds
a current and a future pupil starter, a staff starter, a leaver removed from
the export and one given a leaving date, a mover between two local schools, a
pupil's and a staff member's surname change and a preferred-name change.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from rollsync.domain import reports as r
from rollsync.domain.records import Gender, Role
from rollsync.simulate import names as n
from rollsync.simulate.build import TEACHER_SUBJECTS, Generator, record_typo
from rollsync.simulate.mis import IdAllocator, export_reports
from rollsync.simulate.model import Enrolment, School, World, export_key
from rollsync.simulate.text import misspell, surname_form


def add_school_days(d: date, k: int) -> date:
    while k > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            k -= 1
    return d


def _count(rng: random.Random, expected: float) -> int:
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def _settled(e: Enrolment, day: int, today: date) -> bool:
    """On roll, started, not already leaving: a candidate for today's events."""
    return (
        e.visible_from_day < day  # not someone who arrived today
        and e.start_date <= today
        and e.removed_day is None
        and e.leaving_date is None
        and not e.name_overrides
        and e.dob_override is None
    )


class Churn:
    def __init__(self, gen: Generator, day: int):
        self.gen = gen
        self.world: World = gen.world
        self.day = day
        self.today = self.world.date_of(day)
        self.rng = random.Random(f"rollsync.simulate:{self.world.seed}:day:{day}")
        gen.rng = self.rng  # people made today come from today's stream
        self.opts = gen.opts
        self.rec = gen.rec
        self.moved: set[str] = {m["person_id"] for m in self.rec.movers}

    def run(self) -> None:
        self.apply_fixes()
        change = self.world.mis_change
        if change is not None and change[1] == self.day:
            self.change_mis(self.world.school(change[0]), change[2], change[3])
        if self.opts.guarantee_examples and self.day == 2:
            self.guaranteed()
        self.random_events()

    # --- events ------------------------------------------------------------------------

    def apply_fixes(self) -> None:
        for fix_day, urn, pid in self.world.fixes:
            if fix_day != self.day:
                continue
            school = self.world.school(urn)
            e = school.pupils.get(pid) or school.staff.get(pid)
            if e is not None:
                e.name_overrides.clear()
                e.dob_override = None

    def _settled_pupils(self, school: School) -> list[Enrolment]:
        return [
            e
            for e in school.pupils.values()
            if _settled(e, self.day, self.today) and e.person_id not in self.moved
        ]

    def _settled_staff(self, school: School) -> list[Enrolment]:
        return [
            e
            for e in school.staff.values()
            if _settled(e, self.day, self.today) and e.staff_role != "head"
        ]

    def pupil_starter(self, school: School, *, future: bool | None = None) -> None:
        rng, gen, opts = self.rng, self.gen, self.opts
        year = rng.choice(school.years)
        families = [hh for hh in self.world.households.values() if 1 <= len(hh.children) <= 3]
        sibling = bool(families) and rng.random() < opts.sibling_starter_share
        hh = rng.choice(families) if sibling else gen.household()
        temporary = not sibling and rng.random() < opts.starter_temporary_upn_share
        child = gen.child(
            hh, year, from_here=not temporary and rng.random() < 0.5, temporary_upn=temporary
        )
        if future is None:
            future = rng.random() < opts.future_start_share
        start = add_school_days(self.today, rng.randint(1, 8)) if future else self.today
        e = gen.enrol_pupil(school, child, year, start, day=self.day)
        self.rec.starters.append(
            {
                "day": self.day,
                "urn": school.urn,
                "role": Role.PUPIL.value,
                "person_id": child.person_id,
                "mis_id": export_key(school, e, child),
                "start_date": start.isoformat(),
                "future": future,
                "joins_family_in_la": sibling,
                "temporary_upn": temporary,
            }
        )
        if rng.random() < opts.starter_typo_share:
            fix = self.day + 2 if self.day + 2 <= len(self.world.dates) else None
            right = child.legal_given
            e.name_overrides["legal_given_name"] = misspell(right, rng)
            record_typo(
                gen,
                school,
                child.person_id,
                "legal_given_name",
                e.name_overrides["legal_given_name"],
                right,
                self.day,
                fix,
            )

    def staff_starter(self, school: School, *, future: bool | None = None) -> None:
        rng, gen = self.rng, self.gen
        staff_role = rng.choices(("teacher", "ta", "office"), (60, 30, 10))[0]
        p = gen.staff_person(school, staff_role)
        if future is None:
            future = rng.random() < self.opts.future_start_share
        start = add_school_days(self.today, rng.randint(1, 8)) if future else self.today
        subject = (
            rng.choice(TEACHER_SUBJECTS)
            if school.phase == "Secondary" and staff_role == "teacher"
            else None
        )
        e = gen.enrol_staff(school, p, staff_role, start, day=self.day, subject=subject)
        self.rec.starters.append(
            {
                "day": self.day,
                "urn": school.urn,
                "role": Role.STAFF.value,
                "person_id": p.person_id,
                "mis_id": e.mis_id,
                "start_date": start.isoformat(),
                "future": future,
            }
        )

    def leaver(self, school: School, e: Enrolment, *, with_date: bool | None = None) -> None:
        rng = self.rng
        if with_date is None:
            with_date = rng.random() < self.opts.leaving_date_share
        if with_date:
            e.leaving_date = add_school_days(self.today, rng.randint(0, 5))
        else:
            e.removed_day = self.day
        if e.role is Role.STAFF:
            self.gen.reassign_teacher(school, e.person_id)
        self.rec.leavers.append(
            {
                "day": self.day,
                "urn": school.urn,
                "role": e.role.value,
                "person_id": e.person_id,
                "mis_id": export_key(school, e, self.world.people[e.person_id]),
                "mode": "leaving_date" if with_date else "removed",
                "leaving_date": e.leaving_date.isoformat() if e.leaving_date else None,
            }
        )

    def mover(self) -> bool:
        rng = self.rng
        schools = self.world.schools
        for _ in range(50):  # a random pupil somewhere, until one has a school to move to
            a = rng.choice(schools)
            settled = self._settled_pupils(a)
            if not settled:
                continue
            e = rng.choice(settled)
            targets = [
                b
                for b in schools
                if b is not a and e.year_group in b.years and e.person_id not in b.pupils
            ]
            if targets:
                break
        else:
            return False
        b = rng.choice(targets)
        p = self.world.people[e.person_id]
        overlap = rng.random() < self.opts.mover_overlap_share
        from_key = export_key(a, e, p)
        e.removed_day = self.day + 1 if overlap else self.day
        new = self.gen.enrol_pupil(b, p, e.year_group or b.years[0], self.today, day=self.day)
        self.moved.add(p.person_id)
        self.rec.movers.append(
            {
                "day": self.day,
                "person_id": p.person_id,
                "upn": p.upn,
                "from_urn": a.urn,
                "from_mis_id": from_key,
                "to_urn": b.urn,
                "to_mis_id": export_key(b, new, p),
                "overlap": overlap,
            }
        )
        return True

    def pupil_surname_change(self, school: School) -> bool:
        rng = self.rng
        cands = self._settled_pupils(school)
        if not cands:
            return False
        e = rng.choice(cands)
        p = self.world.people[e.person_id]
        old = p.legal_family
        hh = self.world.households.get(p.household_id or "")
        others = [self.world.people[c.person_id].legal_family for c in hh.contacts] if hh else []
        others = [s for s in others if s != old and "|" not in s]
        if others and rng.random() < 0.5:
            new, reason = others[0], "took a parent's surname"
        elif "-" not in old and " " not in old and rng.random() < 0.5:
            new, reason = (
                f"{old}-{surname_form(self.gen.surname(p.origin), female=p.gender is Gender.FEMALE)}",
                "double-barrelled",
            )
        else:
            new, reason = (
                surname_form(self.gen.surname(self.gen.origin()), female=p.gender is Gender.FEMALE),
                "adopted or new family",
            )
        if new == old:
            return False
        p.legal_family = new
        if p.preferred_family == new:
            p.preferred_family = None
        self._name_change(p.person_id, Role.PUPIL, "legal_family_name", old, new, reason)
        return True

    def staff_surname_change(self, school: School | None = None) -> bool:
        rng = self.rng
        if school is None:
            multi = [
                pid
                for pid in self._staff_ids()
                if sum(pid in s.staff for s in self.world.schools) >= 2
            ]
            cands = [
                self.world.people[pid]
                for pid in multi
                if self.world.people[pid].gender is Gender.FEMALE
            ]
            if not cands:
                cands = [
                    self.world.people[e.person_id]
                    for s in self.world.schools
                    for e in self._settled_staff(s)
                    if self.world.people[e.person_id].gender is Gender.FEMALE
                ]
        else:
            cands = [self.world.people[e.person_id] for e in self._settled_staff(school)]
        if not cands:
            return False
        p = rng.choice(cands)
        old = p.legal_family
        spouse = surname_form(self.gen.surname(self.gen.origin()), female=True, married=True)
        new = (
            f"{old}-{spouse}"
            if rng.random() < 0.2 and "-" not in old and " " not in old
            else spouse
        )
        if new == old:
            return False
        p.legal_family = new
        old_title = p.title
        if p.title == "Miss":
            p.title = "Mrs"
        self._name_change(
            p.person_id, Role.STAFF, "legal_family_name", old, new, "marriage", old_title, p.title
        )
        return True

    def preferred_change(self, school: School) -> bool:
        rng = self.rng
        cands = self._settled_pupils(school)
        if not cands:
            return False
        p = self.world.people[rng.choice(cands).person_id]
        old = p.preferred_given
        if old is None and p.legal_given in n.NICKNAMES:
            new: str | None = rng.choice(n.NICKNAMES[p.legal_given])
        elif old is not None and rng.random() < 0.5:
            new = None
        else:
            new = self.gen.given(
                p.origin,
                Gender.MALE if p.gender is Gender.FEMALE else Gender.FEMALE,
                {p.legal_given},
            )
        if new == old:
            return False
        p.preferred_given = new
        self._name_change(
            p.person_id, Role.PUPIL, "preferred_given_name", old, new, "known by another name"
        )
        return True

    def _name_change(
        self,
        pid: str,
        role: Role,
        field: str,
        old: str | None,
        new: str | None,
        reason: str,
        old_title: str | None = None,
        new_title: str | None = None,
    ) -> None:
        row = {
            "day": self.day,
            "person_id": pid,
            "role": role.value,
            "field": field,
            "old": old,
            "new": new,
            "reason": reason,
            "schools": [s.urn for s in self.world.schools if pid in s.pupils or pid in s.staff],
        }
        if old_title != new_title:
            row["title"] = {"old": old_title, "new": new_title}
        self.rec.name_changes.append(row)

    def _staff_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.world.schools:
            for e in self._settled_staff(s):
                seen.setdefault(e.person_id)
        return list(seen)

    def change_mis(self, school: School, new_mis: str, new_fmt: str) -> None:
        ids = IdAllocator.start(
            new_mis,
            random.Random(
                f"rollsync.simulate:{self.world.seed}:ids:{school.urn}:{new_mis}:{self.day}"
            ),
        )
        old_mis, old_fmt = school.mis, school.fmt
        id_map = []
        for records, role in ((school.staff, Role.STAFF), (school.pupils, Role.PUPIL)):
            for e in records.values():
                old = e.mis_id
                e.mis_id = ids.person(role)
                gone = e.removed_day is not None or (
                    e.leaving_date is not None and e.leaving_date < self.today
                )
                if not gone:
                    id_map.append(
                        {
                            "role": role.value,
                            "person_id": e.person_id,
                            "old_mis_id": old,
                            "new_mis_id": e.mis_id,
                        }
                    )
        for pid in list(school.contact_ids):
            old = school.contact_ids[pid]
            school.contact_ids[pid] = ids.person(Role.CONTACT)
            id_map.append(
                {
                    "role": Role.CONTACT.value,
                    "person_id": pid,
                    "old_mis_id": old,
                    "new_mis_id": school.contact_ids[pid],
                }
            )
        for g in school.groups.values():
            g.mis_id = ids.group()
        school.ids = ids
        school.mis, school.fmt = new_mis, new_fmt
        school.mis_history.append((self.day, new_mis, new_fmt))
        self.rec.mis_change = {
            "urn": school.urn,
            "day": self.day,
            "old_mis": old_mis,
            "old_format": old_fmt,
            "new_mis": new_mis,
            "new_format": new_fmt,
            "id_map": id_map,
        }

    # --- the day's plan ---------------------------------------------------------------------

    def guaranteed(self) -> None:
        rng = self.rng
        schools = self.world.schools
        self.pupil_starter(rng.choice(schools), future=False)
        future_ok = [s for s in schools if r.STUDENTS_FUTURE in export_reports(s.mis, s.fmt)]
        self.pupil_starter(rng.choice(future_ok or schools), future=True)
        staff_ok = [s for s in schools if r.STAFF in export_reports(s.mis, s.fmt)]
        self.staff_starter(rng.choice(staff_ok or schools), future=False)
        for with_date in (False, True):
            school = rng.choice(schools)
            cands = self._settled_pupils(school)
            if cands:
                self.leaver(school, rng.choice(cands), with_date=with_date)
        self.mover()
        for school in rng.sample(schools, len(schools)):
            if self.pupil_surname_change(school):
                break
        self.staff_surname_change()
        for school in rng.sample(schools, len(schools)):
            if self.preferred_change(school):
                break

    def random_events(self) -> None:
        rng, opts = self.rng, self.opts
        total = 0
        for school in self.world.schools:
            roll = self._settled_pupils(school)
            total += len(roll)
            for _ in range(_count(rng, opts.pupil_starter_rate * len(roll))):
                self.pupil_starter(school)
            leaving = min(len(roll), _count(rng, opts.pupil_leaver_rate * len(roll)))
            for e in rng.sample(roll, leaving):
                self.leaver(school, e)
            staff = self._settled_staff(school)
            for _ in range(_count(rng, opts.staff_starter_rate * len(staff))):
                self.staff_starter(school)
            leaving = min(len(staff), _count(rng, opts.staff_leaver_rate * len(staff)))
            for e in rng.sample(staff, leaving):
                self.leaver(school, e)
            for _ in range(_count(rng, opts.pupil_surname_change_rate * len(roll))):
                self.pupil_surname_change(school)
            for _ in range(_count(rng, opts.staff_surname_change_rate * len(staff))):
                self.staff_surname_change(school)
            for _ in range(_count(rng, opts.preferred_change_rate * len(roll))):
                self.preferred_change(school)
        for _ in range(_count(rng, opts.mover_rate * total)):
            self.mover()
        if opts.hard_cases:
            from rollsync.simulate.hard import noisy_movers

            noisy_movers(self, self.day)


def apply_day(gen: Generator, day: int) -> None:
    Churn(gen, day).run()
