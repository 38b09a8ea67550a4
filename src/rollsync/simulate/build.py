"""Builds the simulated LA on day 1: schools, staff, families, pupils, groups.

`Generator` also makes the people churn adds later (starters, new families),
so day-1 people and later arrivals are drawn the same way.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import date, timedelta

from rollsync.domain.records import Gender, GroupKind, Role
from rollsync.domain.upn import CHECK_LETTERS, make_upn
from rollsync.simulate import names as n
from rollsync.simulate.mis import FORMAT_MIS, FORMATS, IdAllocator, export_reports
from rollsync.simulate.model import (
    PRIMARY_YEARS,
    SECONDARY_YEARS,
    Address,
    ContactRole,
    Enrolment,
    Group,
    Household,
    Person,
    School,
    World,
    export_key,
    year_index,
)
from rollsync.simulate.options import Realism
from rollsync.simulate.text import misspell, slug, surname_form
from rollsync.simulate.truth import TruthRecorder

KS3_SUBJECTS = ("Ma", "En", "Sc", "Hi", "Gg", "Fr", "Ar", "Pe", "Cp")
KS4_SUBJECTS = ("Ma", "En", "Sc", "Pe", "Hi", "Gg", "Fr")
SIXTH_FORM_SUBJECTS = ("Ma", "En", "Bi", "Ch", "Ph", "Ps", "Hi", "Ec")
# Core subjects twice: they need the most teachers.
TEACHER_SUBJECTS = (
    "Ma", "En", "Sc", "Ma", "En", "Sc", "Hi", "Gg", "Fr",
    "Ar", "Pe", "Cp", "Bi", "Ch", "Ph", "Ps", "Ec",
)  # fmt: skip
SHOWCASE_ORIGINS = {
    "D'Souza": "south_asian",
    "Adeleke-Johnson": "west_african",
    "van der Berg": "european",
    "da Silva": "iberian",
    "de la Cruz": "iberian",
}
CSV_MIS_WEIGHTS = (
    ("SIMS", 45), ("Arbor", 20), ("Bromcom", 12), ("ScholarPack", 8), ("Integris", 7),
    ("Pupil Asset", 5), ("IRIS iSAMS", 3),
)  # fmt: skip


def school_days(start: date, count: int) -> list[date]:
    """`count` school days from `start` (weekends skipped: nobody exports on Sunday)."""
    out: list[date] = []
    d = start
    while len(out) < count:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def academic_year_of(d: date) -> int:
    return d.year if d.month >= 9 else d.year - 1


def sixth_form_options(seed: int) -> tuple[str, ...]:
    """Three A-level subjects, fixed by the pupil's seed."""
    pool = list(SIXTH_FORM_SUBJECTS)
    out = []
    x = seed
    for _ in range(3):
        out.append(pool.pop(x % len(pool)))
        x //= 7
    return tuple(sorted(out))


def pupil_group_keys(school: School, e: Enrolment) -> list[str]:
    """The groups a pupil belongs to, by the school's group keys."""
    y = e.year_group or ""
    keys = [f"year:{y}"]
    if e.reg_group:
        keys.append(f"reg:{e.reg_group}")
    if school.phase == "Primary":
        if e.reg_group:
            keys.append(f"class:{e.reg_group}")
        return keys
    n_sets = max(1, len(school.forms.get(y, [])))
    if y in ("12", "13"):
        keys.extend(f"class:{y}:{s}:1" for s in sixth_form_options(e.set_seed))
    else:
        subjects = KS3_SUBJECTS if year_index(y) <= 9 else KS4_SUBJECTS
        for i, s in enumerate(subjects):
            keys.append(f"class:{y}:{s}:{(e.set_seed + i) % n_sets + 1}")
    return keys


class Generator:
    def __init__(self, world: World, rng: random.Random, rec: TruthRecorder, opts: Realism):
        self.world = world
        self.rng = rng
        self.rec = rec
        self.opts = opts
        self._origin_codes = [o.code for o in n.ORIGINS]
        self._origin_weights = [o.weight for o in n.ORIGINS]
        self._form_counts: Counter[tuple[str, str]] = Counter()
        self.showcase: set[str] = set()  # kept free of typos, so each school shows them right

    # --- small draws -------------------------------------------------------------------

    def origin(self, british_bias: float = 0.0) -> str:
        if british_bias and self.rng.random() < british_bias:
            return "british"
        return self.rng.choices(self._origin_codes, self._origin_weights)[0]

    def given(
        self, origin: str, gender: Gender, avoid: set[str] | frozenset[str] = frozenset()
    ) -> str:
        o = n.ORIGIN_BY_CODE[origin]
        pool = o.female if gender is Gender.FEMALE else o.male
        for _ in range(20):
            name = self.rng.choice(pool)
            if name not in avoid:
                return name
        return self.rng.choice(pool)

    def surname(self, origin: str) -> str:
        return self.rng.choice(n.ORIGIN_BY_CODE[origin].surnames)

    def new_person_id(self) -> str:
        self.world.next_person += 1
        return f"P{self.world.next_person:06d}"

    def phone(self) -> str:
        c = self.world.phone_counter
        self.world.phone_counter += 1
        prefix = n.DRAMA_PHONE_PREFIXES[(c // 1000) % len(n.DRAMA_PHONE_PREFIXES)]
        return f"{prefix}{c % 1000:03d}"

    def unique_email(self, local: str, domain: str) -> str:
        local = local or "user"
        candidate = f"{local}@{domain}"
        k = 1
        while candidate in self.world.used_emails:
            k += 1
            candidate = f"{local}{k}@{domain}"
        self.world.used_emails.add(candidate)
        return candidate

    def address(self) -> Address:
        town, district = self.rng.choice(self.world.towns)
        letters = n.POSTCODE_UNIT_LETTERS
        postcode = (
            f"{self.world.postcode_area}{district} {self.rng.randint(1, 9)}"
            f"{self.rng.choice(letters)}{self.rng.choice(letters)}"
        )
        paon = str(self.rng.randint(1, 180))
        if self.rng.random() < 0.04:
            paon = self.rng.choice(("Rose Cottage", "The Old Forge", "Ivy House", "Flint Lodge"))
        saon = f"Flat {self.rng.randint(1, 12)}" if self.rng.random() < 0.12 else None
        street = f"{self.rng.choice(n.STREET_WORDS)} {self.rng.choice(n.STREET_TYPES)}"
        return Address(paon=paon, street=street, town=town, postcode=postcode, saon=saon)

    def birth_date(self, year_group: str) -> date:
        """A date of birth that puts a child in `year_group` this academic year."""
        a = self.world.academic_year
        yi = year_index(year_group)
        first = date(a - 5 - yi, 9, 1)
        return first + timedelta(days=self.rng.randrange(365))

    def upn(self, year_group: str, *, from_here: bool, temporary: bool = False) -> str:
        """A UPN as the first school gave it: its LA, estab and the year the child started."""
        alloc_year = self.world.academic_year - year_index(year_group)
        if from_here:
            la = self.world.la_code
            estab = self.rng.choice(
                [s.estab for s in self.world.schools if s.phase == "Primary"] or ["2001"]
            )
        else:
            la = str(self.rng.randint(201, 938))
            estab = str(self.rng.randint(2000, 4999))
        for _ in range(1000):
            key = (la, estab, alloc_year % 100)
            serial = self.world.upn_serials.get(key, self.rng.randint(1, 400)) + 1
            self.world.upn_serials[key] = serial
            if temporary:
                value = make_upn(
                    la, estab, alloc_year, serial, temporary_letter=self.rng.choice(CHECK_LETTERS)
                )
            else:
                value = make_upn(la, estab, alloc_year, serial % 1000)
            if value not in self.world.used_upns:
                self.world.used_upns.add(value)
                return value
            estab = str(self.rng.randint(2000, 4999))
        raise RuntimeError("ran out of UPNs")

    # --- people --------------------------------------------------------------------------

    def _register(self, p: Person) -> Person:
        self.world.people[p.person_id] = p
        self.rec.register(p)
        return p

    def contact_person(
        self,
        hh: Household,
        gender: Gender,
        family: str,
        origin: str,
        age: tuple[int, int],
        address: Address,
    ) -> Person:
        given = self.given(origin, gender)
        a = self.world.academic_year
        dob = date(a - self.rng.randint(*age), 1, 1) + timedelta(days=self.rng.randrange(365))
        if gender is Gender.FEMALE:
            title = self.rng.choices(("Mrs", "Ms", "Miss", "Dr"), (50, 30, 17, 3))[0]
        else:
            title = self.rng.choices(("Mr", "Dr"), (97, 3))[0]
        email = None
        if self.rng.random() < 0.85:
            email = self.unique_email(
                f"{slug(given)}.{slug(family)}", self.rng.choice(n.EMAIL_DOMAINS)
            )
        return self._register(
            Person(
                person_id=self.new_person_id(),
                kind=Role.CONTACT,
                legal_given=given,
                legal_family=family,
                gender=gender,
                dob=dob,
                origin=origin,
                title=title,
                household_id=hh.household_id,
                address=address,
                email=email,
                phone=self.phone() if self.rng.random() < 0.95 else None,
            )
        )

    def household(self, origin: str | None = None, surname: str | None = None) -> Household:
        rng = self.rng
        o = origin or self.origin()
        forms = surname or self.surname(o)
        self.world.next_household += 1
        hh = Household(f"H{self.world.next_household:05d}", o, self.address(), forms)
        sep = self.opts.separated_parents_share
        shape = rng.choices(
            ("together", "separated", "mother", "father", "carer"), (0.70, sep, 0.13, 0.04, 0.02)
        )[0]
        people: list[tuple[Person, str, str, bool]] = []  # (person, relationship, code, PR)
        mother_origin = o if rng.random() < 0.85 else self.origin()
        maiden = self.surname(mother_origin)
        married = rng.random() < 0.65 and mother_origin == o
        if shape in ("together", "separated", "mother"):
            if married:
                family = surname_form(forms, female=True, married=True)
            else:
                family = surname_form(maiden, female=True, married=True)
            mother = self.contact_person(
                hh, Gender.FEMALE, family, mother_origin, (24, 52), hh.address
            )
            people.append((mother, "Mother", "PAM", True))
        if shape in ("together", "separated", "father"):
            if shape == "together" and rng.random() < 0.05:
                other_origin = self.origin()
                step_name = surname_form(self.surname(other_origin), female=False)
                step = self.contact_person(
                    hh, Gender.MALE, step_name, other_origin, (26, 58), hh.address
                )
                people.append((step, "Step-father", "STF", False))
            else:
                address = self.address() if shape == "separated" else hh.address
                dad_name = surname_form(forms, female=False)
                father = self.contact_person(hh, Gender.MALE, dad_name, o, (25, 58), address)
                people.append((father, "Father", "PAF", True))
        if shape == "carer":
            carer_name = surname_form(self.surname(o), female=True, married=True)
            carer = self.contact_person(hh, Gender.FEMALE, carer_name, o, (30, 62), hh.address)
            people.append((carer, "Carer", "CAR", True))
        if shape == "together" and not married and rng.random() < 0.15:
            # the children carry both parents' surnames
            m = surname_form(maiden, female=True)
            if not any(ch in m + forms for ch in " -|"):
                hh.surname = f"{forms}-{m}"
        if len(people) == 2 and rng.random() < 0.35:
            people.reverse()  # mother first is usual, not universal
        if rng.random() < self.opts.grandparent_contact_share:
            g = Gender.FEMALE if rng.random() < 0.6 else Gender.MALE
            fam = surname_form(forms, female=g is Gender.FEMALE, married=True)
            gp = self.contact_person(hh, g, fam, o, (55, 80), hh.address)
            people.append(
                (gp, "Grandmother" if g is Gender.FEMALE else "Grandfather", "REL", False)
            )
        for i, (p, rel, code, pr) in enumerate(people, start=1):
            hh.contacts.append(ContactRole(p.person_id, rel, code, i, pr))
        self.world.households[hh.household_id] = hh
        return hh

    def child(
        self,
        hh: Household,
        year_group: str,
        *,
        gender: Gender | None = None,
        given: str | None = None,
        twin_of: Person | None = None,
        from_here: bool | None = None,
        temporary_upn: bool | None = None,
        dob: date | None = None,
        surname: str | None = None,
    ) -> Person:
        rng = self.rng
        opts = self.opts
        g = gender or (Gender.FEMALE if rng.random() < 0.5 else Gender.MALE)
        siblings = {self.world.people[c].legal_given for c in hh.children}
        first = given or self.given(hh.origin, g, avoid=siblings)
        family = surname_form(surname or hh.surname, female=g is Gender.FEMALE)
        middle = None
        if rng.random() < opts.middle_name_share:
            middle = self.given(hh.origin, g, avoid={first})
            if rng.random() < 0.1:
                middle = f"{middle} {self.given(hh.origin, g, avoid={first, middle})}"
        preferred = None
        if rng.random() < opts.preferred_name_share:
            if first in n.NICKNAMES:
                preferred = rng.choice(n.NICKNAMES[first])
            elif hh.origin == "east_asian":
                preferred = self.given("british", g)
        elif first in n.NICKNAMES and rng.random() < 0.3:
            preferred = rng.choice(n.NICKNAMES[first])
        preferred_family = None
        if rng.random() < opts.preferred_surname_share:
            other = [self.world.people[c.person_id].legal_family for c in hh.contacts]
            other = [s for s in other if s != family]
            if other:
                preferred_family = other[0]
        if temporary_upn is None:
            temporary_upn = rng.random() < opts.temporary_upn_share
        if from_here is None:
            from_here = rng.random() < 0.85
        upn = self.upn(year_group, from_here=from_here, temporary=temporary_upn)
        p = Person(
            person_id=self.new_person_id(),
            kind=Role.PUPIL,
            legal_given=first,
            legal_family=family,
            gender=g,
            dob=dob or (twin_of.dob if twin_of else self.birth_date(year_group)),
            origin=hh.origin,
            middle=middle,
            preferred_given=preferred,
            preferred_family=preferred_family,
            upn=upn,
            household_id=hh.household_id,
            address=hh.address,
        )
        hh.children.append(p.person_id)
        return self._register(p)

    def staff_person(self, school: School, staff_role: str) -> Person:
        rng = self.rng
        o = self.origin(british_bias=0.35)
        female_share = 0.8 if school.phase == "Primary" else 0.62
        g = Gender.FEMALE if rng.random() < female_share else Gender.MALE
        given = self.given(o, g)
        family = surname_form(self.surname(o), female=g is Gender.FEMALE, married=True)
        if g is Gender.FEMALE:
            title = rng.choices(("Mrs", "Ms", "Miss", "Dr", "Mx"), (45, 27, 23, 3, 2))[0]
        else:
            title = rng.choices(("Mr", "Dr", "Mx"), (95, 4, 1))[0]
        if title == "Mx":
            g = Gender.OTHER
        low, high = (20, 65) if staff_role in ("ta", "office") else (23, 63)
        dob = date(self.world.academic_year - rng.randint(low, high), 1, 1) + timedelta(
            days=rng.randrange(365)
        )
        middle = (
            self.given(o, Gender.FEMALE if g is Gender.FEMALE else Gender.MALE, {given})
            if rng.random() < 0.4
            else None
        )
        preferred = (
            rng.choice(n.NICKNAMES[given]) if given in n.NICKNAMES and rng.random() < 0.35 else None
        )
        return self._register(
            Person(
                person_id=self.new_person_id(),
                kind=Role.STAFF,
                legal_given=given,
                legal_family=family,
                gender=g,
                dob=dob,
                origin=o,
                middle=middle,
                preferred_given=preferred,
                title=title,
                address=self.address(),
                phone=self.phone() if rng.random() < 0.6 else None,
            )
        )

    # --- enrolments ------------------------------------------------------------------------

    def staff_code(self, school: School, p: Person) -> str:
        g = slug(p.legal_given).upper() or "X"
        f = slug(p.legal_family).upper() or "X"
        taken = {e.staff_code for e in school.staff.values()}
        for code in (g[0] + f[:2], g[0] + f[0] + f[-1], g[:2] + f[0]):
            if len(code) == 3 and code not in taken:
                return code
        k = 1
        while f"{g[0]}{f[0]}{k}" in taken:
            k += 1
        return f"{g[0]}{f[0]}{k}"

    def enrol_staff(
        self,
        school: School,
        p: Person,
        staff_role: str,
        start: date,
        *,
        day: int = 1,
        subject: str | None = None,
    ) -> Enrolment:
        local = f"{slug(p.legal_given)[:1]}.{slug(p.legal_family)}"
        e = Enrolment(
            person_id=p.person_id,
            role=Role.STAFF,
            mis_id=school.ids.person(Role.STAFF),
            start_date=start,
            visible_from_day=day,
            staff_role=staff_role,
            subject=subject,
            staff_code=self.staff_code(school, p),
            email=self.unique_email(local, school.domain),
        )
        school.staff[p.person_id] = e
        return e

    def least_full_form(self, school: School, year_group: str) -> str | None:
        forms = school.forms.get(year_group)
        if not forms:
            return None
        return min(forms, key=lambda f: (self._form_counts[(school.urn, f)], f))

    def enrol_pupil(
        self, school: School, p: Person, year_group: str, start: date, *, day: int = 1
    ) -> Enrolment:
        rng = self.rng
        reg = self.least_full_form(school, year_group)
        if reg:
            self._form_counts[(school.urn, reg)] += 1
        email = None
        if school.phase == "Secondary" and rng.random() < 0.9:
            intake = (self.world.academic_year - year_index(year_group) + 7) % 100
            local = f"{intake:02d}{slug(p.legal_family)[:10]}{slug(p.legal_given)[:1]}"
            email = self.unique_email(local, school.domain)
        e = Enrolment(
            person_id=p.person_id,
            role=Role.PUPIL,
            mis_id=school.ids.person(Role.PUPIL),
            start_date=start,
            visible_from_day=day,
            year_group=year_group,
            reg_group=reg,
            set_seed=rng.randrange(1_000_000),
            email=email,
        )
        school.pupils[p.person_id] = e
        hh = self.world.households.get(p.household_id or "")
        if hh is not None:
            self.ensure_contacts(school, hh)
        return e

    def ensure_contacts(self, school: School, hh: Household) -> None:
        for c in hh.contacts:
            if c.person_id not in school.contact_ids:
                school.contact_ids[c.person_id] = school.ids.person(Role.CONTACT)

    def entry_date(self, school: School, year_group: str) -> date:
        """When a day-1 pupil joined: the September of their first year here, or mid-year."""
        first_year = "R" if school.phase == "Primary" else "7"
        years_here = year_index(year_group) - year_index(first_year)
        if self.rng.random() < 0.1 and years_here > 0:
            k = self.rng.randint(1, years_here)  # joined mid-year, some years ago
            return date(self.world.academic_year - k, 9, 1) + timedelta(
                days=self.rng.randint(20, 280)
            )
        start = date(self.world.academic_year - years_here, 9, 1)
        while start.weekday() >= 5:
            start += timedelta(days=1)
        return start

    def reassign_teacher(self, school: School, leaving_id: str) -> None:
        teachers = [
            pid
            for pid, e in school.staff.items()
            if e.staff_role in ("teacher", "head")
            and pid != leaving_id
            and e.leaving_date is None
            and e.removed_day is None
        ]
        if not teachers:
            return
        for g in school.groups.values():
            if g.teacher_id == leaving_id:
                same = [t for t in teachers if school.staff[t].subject == g.subject]
                g.teacher_id = self.rng.choice(same or teachers)


# --- the LA on day 1 -----------------------------------------------------------------------


def _place_name(rng: random.Random, used: set[str]) -> str:
    for _ in range(200):
        name = rng.choice(n.PLACE_PREFIXES) + rng.choice(n.PLACE_SUFFIXES)
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("ran out of place names")


_PRIMARY_NAMES = (
    ("{place} Primary School", 40),
    ("{place} Park Primary School", 15),
    ("St {saint}'s C of E Primary School", 15),
    ("St {saint}'s Catholic Primary School", 12),
    ("{place} Primary Academy", 15),
    ("St Thérèse of Lisieux Catholic Primary School", 3),  # not ASCII: GIAS is cp1252
)
_SECONDARY_NAMES = (
    ("{place} High School", 35),
    ("{place} Academy", 30),
    ("{place} School", 15),
    ("St {saint}'s Catholic High School", 12),
    ("Bishop {bishop} C of E School", 8),
)


def _school_name(rng: random.Random, phase: str, used_places: set[str], used: set[str]) -> str:
    templates = _PRIMARY_NAMES if phase == "Primary" else _SECONDARY_NAMES
    for _ in range(200):
        template = rng.choices([t for t, _ in templates], [w for _, w in templates])[0]
        place = _place_name(rng, used_places) if "{place}" in template else ""
        name = template.format(
            place=place,
            saint=rng.choice(n.SAINTS),
            bishop=rng.choice(("Challoner", "Ramsey", "Wand", "Stopford")),
        )
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("ran out of school names")


def build_world(
    *,
    seed: int,
    n_schools: int,
    days: int,
    start: date,
    opts: Realism,
    rec: TruthRecorder,
    la_code: str | None = None,
    phases: list[str] | None = None,
    formats: list[str] | None = None,
) -> tuple[World, Generator]:
    rng = random.Random(f"rollsync.simulate:{seed}:world")
    used_places: set[str] = set()
    la_name = _place_name(rng, used_places)
    world = World(
        seed=seed,
        la_code=la_code or str(rng.randint(201, 938)),
        la_name=la_name,
        academic_year=academic_year_of(start),
        dates=school_days(start, days),
    )
    world.postcode_area = rng.choice(n.POSTCODE_AREAS)
    world.towns = [(_place_name(rng, used_places), d) for d in rng.sample(range(1, 25), 4)]
    gen = Generator(world, rng, rec, opts)

    if phases is None:
        n_secondary = 0 if n_schools == 1 else max(1, round(n_schools * opts.secondary_share))
        phases = ["Secondary"] * n_secondary + ["Primary"] * (n_schools - n_secondary)
        rng.shuffle(phases)
    if formats is None:
        order = list(FORMATS)
        rng.shuffle(order)
        formats = [order[i % len(order)] for i in range(n_schools)]
    urns = rng.sample(range(*opts.urn_range), n_schools)
    used_estabs: set[int] = set()
    used_names: set[str] = set()
    used_domains: set[str] = set()
    first_csv = True
    for i in range(n_schools):
        phase = phases[i]
        fmt = formats[i]
        lo, hi = (4000, 4999) if phase == "Secondary" else (2000, 3999)
        estab = rng.randint(lo, hi)
        while estab in used_estabs:
            estab = rng.randint(lo, hi)
        used_estabs.add(estab)
        name = _school_name(rng, phase, used_places, used_names)
        if fmt == "csv" and first_csv:
            mis = "SIMS"  # the first CSV school sends every report, future ones too
            first_csv = False
        elif fmt == "csv":
            mis = rng.choices([m for m, _ in CSV_MIS_WEIGHTS], [w for _, w in CSV_MIS_WEIGHTS])[0]
        else:
            mis = rng.choice(FORMAT_MIS[fmt])
        domain = slug(name.replace("School", "").replace("Academy", ""))[:24]
        while domain in used_domains:
            domain += "x"
        used_domains.add(domain)
        school = School(
            urn=str(urns[i]),
            la_code=world.la_code,
            estab=str(estab),
            name=name,
            phase=phase,
            mis=mis,
            fmt=fmt,
            domain=f"{domain}.sch.example",
            years=PRIMARY_YEARS if phase == "Primary" else SECONDARY_YEARS,
            ids=IdAllocator.start(
                mis, random.Random(f"rollsync.simulate:{seed}:ids:{urns[i]}:{mis}")
            ),
            mis_history=[(1, mis, fmt)],
        )
        world.schools.append(school)

    capacity = _capacities(world, rng, opts)
    for school in world.schools:
        _build_forms(school, capacity)
        _build_staff(gen, school, sum(capacity[(school.urn, y)] for y in school.years))
        _build_groups(gen, school)
    _fill_pupils(gen, capacity)
    if opts.hard_cases:
        from rollsync.simulate.hard import add_hard_families

        add_hard_families(gen)
    _staff_at_two_schools(gen)
    _initial_typos(gen)
    _choose_mis_change(world, rng, days, opts)
    return world, gen


def _capacities(world: World, rng: random.Random, opts: Realism) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for s in world.schools:
        lo, hi = opts.primary_size if s.phase == "Primary" else opts.secondary_size
        size = max(len(s.years) * 2, round(rng.randint(lo, hi) * opts.scale))
        weights = [0.6 if y in ("12", "13") else 1.0 for y in s.years]
        for y, w in zip(s.years, weights, strict=True):
            out[(s.urn, y)] = max(2, round(size * w / sum(weights)))
    return out


def _build_forms(school: School, capacity: dict[tuple[str, str], int]) -> None:
    per_form = 30 if school.phase == "Primary" else 28
    for y in school.years:
        count = max(1, math.ceil(capacity[(school.urn, y)] / per_form))
        school.forms[y] = [f"{y}{chr(ord('A') + i)}" for i in range(count)]


def _build_staff(gen: Generator, school: School, pupils: int) -> None:
    rng = gen.rng
    primary = school.phase == "Primary"
    counts = {
        "head": 1,
        "teacher": max(2, round(pupils / (20 if primary else 15))),
        "ta": max(1, round(pupils / (25 if primary else 60))),
        "office": max(1, 1 + pupils // 400),
    }
    a = gen.world.academic_year
    subject_cycle = 0
    for staff_role, count in counts.items():
        for _ in range(count):
            p = gen.staff_person(school, staff_role)
            years_in = rng.randint(0, 20)
            start = (
                date(a - years_in, 9, 1)
                if rng.random() < 0.8
                else date(a - years_in, 1, 6) + timedelta(days=rng.randrange(200))
            )
            subject = None
            if not primary and staff_role == "teacher":
                subject = TEACHER_SUBJECTS[subject_cycle % len(TEACHER_SUBJECTS)]
                subject_cycle += 1
            gen.enrol_staff(school, p, staff_role, start, subject=subject)


def _build_groups(gen: Generator, school: School) -> None:
    rng = gen.rng
    teachers = [pid for pid, e in school.staff.items() if e.staff_role == "teacher"] or list(
        school.staff
    )
    by_subject: dict[str, list[str]] = {}
    for pid in teachers:
        subj = school.staff[pid].subject
        if subj:
            by_subject.setdefault(subj, []).append(pid)
    turn = 0

    def teacher_for(subject: str | None) -> str:
        nonlocal turn
        pool = by_subject.get(subject or "", []) or teachers
        turn += 1
        return pool[turn % len(pool)]

    def add(
        key: str,
        name: str,
        kind: GroupKind,
        year: str,
        teacher: str,
        subject: str | None = None,
        set_no: int = 0,
    ) -> None:
        school.groups[key] = Group(
            key, school.ids.group(), name, kind, year, teacher, subject, set_no
        )

    for y in school.years:
        add(
            f"year:{y}",
            "Reception" if y == "R" else f"Year {y}",
            GroupKind.YEAR,
            y,
            rng.choice(teachers),
        )
        for form in school.forms[y]:
            tutor = teacher_for(None)
            add(f"reg:{form}", form, GroupKind.REGISTRATION, y, tutor)
            if school.phase == "Primary":
                add(f"class:{form}", f"Class {form}", GroupKind.CLASS, y, tutor)
        if school.phase == "Primary":
            continue
        if y in ("12", "13"):
            for s in SIXTH_FORM_SUBJECTS:
                add(f"class:{y}:{s}:1", f"{y}{s}/A", GroupKind.CLASS, y, teacher_for(s), s, 1)
            continue
        subjects = KS3_SUBJECTS if year_index(y) <= 9 else KS4_SUBJECTS
        for s in subjects:
            for k in range(1, len(school.forms[y]) + 1):
                add(f"class:{y}:{s}:{k}", f"{y}{s}{k}", GroupKind.CLASS, y, teacher_for(s), s, k)


def _fill_pupils(gen: Generator, capacity: dict[tuple[str, str], int]) -> None:
    world, rng, opts = gen.world, gen.rng, gen.opts
    remaining = dict(capacity)
    open_slots = [k for k, v in remaining.items() if v > 0]
    schools_for_year: dict[str, list[School]] = {}
    for s in world.schools:
        for y in s.years:
            schools_for_year.setdefault(y, []).append(s)

    def take(school: School, year: str) -> None:
        key = (school.urn, year)
        remaining[key] = remaining.get(key, 0) - 1
        if remaining[key] <= 0 and key in open_slots:
            open_slots.remove(key)

    def place(
        hh: Household,
        school: School,
        year: str,
        gender: Gender | None = None,
        given: str | None = None,
        twin_of: Person | None = None,
    ) -> Person:
        p = gen.child(hh, year, gender=gender, given=given, twin_of=twin_of)
        gen.enrol_pupil(school, p, year, gen.entry_date(school, year))
        take(school, year)
        return p

    def free_year(school: School) -> str:
        open_here = [y for y in school.years if remaining[(school.urn, y)] > 0]
        return rng.choice(open_here or list(school.years))

    # Showcase families first: every school's export shows the awkward names.
    for school in world.schools:
        for pool, accented in (
            (n.SHOWCASE_APOSTROPHE, True),
            (n.SHOWCASE_HYPHEN, False),
            (n.SHOWCASE_MULTIPART, False),
        ):
            surname = rng.choice(pool)
            origin = SHOWCASE_ORIGINS.get(
                surname, "irish" if surname[:2] in ("O'", "Ó ") else "british"
            )
            hh = gen.household(origin=origin, surname=surname)
            g = Gender.FEMALE if rng.random() < 0.5 else Gender.MALE
            given = None
            if accented:
                given = rng.choice(
                    n.SHOWCASE_ACCENTED_FEMALE if g is Gender.FEMALE else n.SHOWCASE_ACCENTED_MALE
                )
            gen.showcase.add(place(hh, school, free_year(school), gender=g, given=given).person_id)

    # Twins at one school, and one family spread over two schools.
    twin_school = rng.choice([s for s in world.schools if s.phase == "Primary"] or world.schools)
    hh = gen.household()
    year = free_year(twin_school)
    first = place(hh, twin_school, year)
    second = place(hh, twin_school, year, twin_of=first)
    gen.rec.twins.append([first.person_id, second.person_id])
    if len(world.schools) >= 2:
        primaries = [s for s in world.schools if s.phase == "Primary"]
        secondaries = [s for s in world.schools if s.phase == "Secondary"]
        pair = (
            (rng.choice(primaries), rng.choice(secondaries))
            if primaries and secondaries
            else tuple(rng.sample(world.schools, 2))
        )
        hh = gen.household()
        for school in pair:
            place(hh, school, free_year(school))

    # Everyone else, family by family, until the schools are full.
    while open_slots:
        school_urn, year = rng.choice(open_slots)
        school = world.school(school_urn)
        hh = gen.household()
        first = place(hh, school, year)
        k = rng.choices((1, 2, 3, 4), (45, 38, 13, 4))[0]
        yi = year_index(year)
        placed_at = {school.phase: school}
        for _ in range(k - 1):
            if rng.random() < opts.twin_share:
                twin = place(hh, school, year, twin_of=first)
                gen.rec.twins.append([first.person_id, twin.person_id])
                continue
            yi2 = yi + rng.choice((-1, 1)) * rng.randint(1, 6)
            if not 0 <= yi2 <= 13:
                continue
            y2 = "R" if yi2 == 0 else str(yi2)
            candidates = [
                s for s in schools_for_year.get(y2, []) if remaining.get((s.urn, y2), 0) > 0
            ]
            if not candidates:
                continue  # at a school outside the LA: not simulated
            same = placed_at.get(candidates[0].phase)
            target = same if same in candidates and rng.random() < 0.8 else rng.choice(candidates)
            place(hh, target, y2)
            placed_at.setdefault(target.phase, target)


def _staff_at_two_schools(gen: Generator) -> None:
    world, rng = gen.world, gen.rng
    capable = [s for s in world.schools if "staff" in export_reports(s.mis, s.fmt)]
    if len(capable) < 2:
        return
    for _ in range(gen.opts.staff_multi_school):
        a, b = rng.sample(capable, 2)
        movers = [
            pid
            for pid, e in a.staff.items()
            if e.staff_role in ("teacher", "ta") and pid not in b.staff
        ]
        if not movers:
            continue
        pid = rng.choice(movers)
        e = a.staff[pid]
        start = date(world.academic_year - rng.randint(0, 5), 9, 1)
        gen.enrol_staff(b, world.people[pid], e.staff_role or "teacher", start, subject=e.subject)


def _initial_typos(gen: Generator) -> None:
    world, rng, opts = gen.world, gen.rng, gen.opts
    fix_day = opts.typo_fix_day if opts.typo_fix_day <= len(world.dates) else None
    name_typos = []
    dob_swaps = []
    for school in world.schools:
        for pid in school.pupils:
            if pid in gen.showcase:
                continue
            if rng.random() < opts.initial_name_typo_share:
                name_typos.append((school, pid))
            elif rng.random() < opts.initial_dob_swap_share:
                dob_swaps.append((school, pid))
    if opts.guarantee_examples:
        school = rng.choice(world.schools)
        named = rng.choice([p for p in school.pupils if p not in gen.showcase])
        name_typos.append((school, named))
        swappable = [
            (school, pid)
            for school in world.schools
            for pid in school.pupils
            if pid not in gen.showcase
            and pid != named
            and world.people[pid].dob.day <= 12
            and world.people[pid].dob.day != world.people[pid].dob.month
        ]
        if swappable:
            dob_swaps.append(rng.choice(swappable))
    for school, pid in name_typos:
        p = world.people[pid]
        e = school.pupils[pid]
        if e.name_overrides or e.dob_override:
            continue
        field_name = rng.choice(("legal_given_name", "legal_family_name"))
        right = p.legal_given if field_name == "legal_given_name" else p.legal_family
        e.name_overrides[field_name] = misspell(right, rng)
        record_typo(gen, school, pid, field_name, e.name_overrides[field_name], right, 1, fix_day)
    for school, pid in dob_swaps:
        p = world.people[pid]
        e = school.pupils[pid]
        if e.name_overrides or e.dob_override or p.dob.day > 12 or p.dob.day == p.dob.month:
            continue
        e.dob_override = date(p.dob.year, p.dob.day, p.dob.month)
        record_typo(
            gen,
            school,
            pid,
            "date_of_birth",
            e.dob_override.isoformat(),
            p.dob.isoformat(),
            1,
            fix_day,
        )


def record_typo(
    gen: Generator,
    school: School,
    pid: str,
    field_name: str,
    wrong: str,
    right: str,
    day: int,
    fix_day: int | None,
) -> None:
    e = school.pupils.get(pid) or school.staff[pid]
    gen.rec.typos.append(
        {
            "person_id": pid,
            "urn": school.urn,
            "role": e.role.value,
            "mis_id": export_key(school, e, gen.world.people[pid]),
            "field": field_name,
            "wrong": wrong,
            "right": right,
            "day_introduced": day,
            "day_fixed": fix_day,
        }
    )
    if fix_day is not None:
        gen.world.fixes.append((fix_day, school.urn, pid))


def _choose_mis_change(world: World, rng: random.Random, days: int, opts: Realism) -> None:
    if not opts.mis_change or days < 2:
        return
    # A school whose export names its people by MIS ID, so the change shows.
    candidates = [s for s in world.schools if s.fmt != "ctf"]
    full_csv = [s for s in candidates if s.fmt == "csv" and s.mis == "SIMS"]
    if len(candidates) > len(full_csv[:1]):
        candidates = [s for s in candidates if s not in full_csv[:1]]
    if not candidates:
        return
    school = rng.choice(candidates)
    day = rng.randint(3, days) if days >= 3 else 2
    new_fmt = rng.choice([f for f in FORMATS if f not in ("ctf", school.fmt)])
    pool = [m for m in FORMAT_MIS[new_fmt] if m not in (school.mis, "Pupil Asset", "IRIS iSAMS")]
    new_mis = rng.choice(pool or [m for m in FORMAT_MIS[new_fmt] if m != school.mis])
    world.mis_change = (school.urn, day, new_mis, new_fmt)
