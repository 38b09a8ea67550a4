"""The hard cases real schools have, with ground truth (`Realism.hard_cases`).

At build time (`add_hard_families`), drawn from a stream of their own:

- twins with similar names ("Ann" and "Anna", "Louis" and "Louise"): one pair at one
  school; in the others, the second twin arrives on day 2 at another school, without
  a UPN there yet, where the first twin's account already stands (the case an engine
  must not merge);
- siblings born a year apart to the day (the same birthday, another year and name);
- blended families: children with two surnames at one address, with one set of
  contacts.

Each school day (`noisy_movers`), movers whose new school's record carries one slip:
a forename one letter off, its accent dropped, a short form as the legal name, day and
month swapped, one digit of the date wrong, or a new surname (a parent's marriage or
divorce); about half arrive without a UPN, so that the names, date and home decide.
Every slip is in truth.json's `typos` (never fixed), every new surname in
`name_changes`.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from rollsync.domain.records import Gender, Role
from rollsync.simulate import names as n
from rollsync.simulate.build import Generator, record_typo
from rollsync.simulate.churn import Churn
from rollsync.simulate.model import Enrolment, Person, School
from rollsync.simulate.text import ascii_fold, misspell, surname_form

_GENDER = {"F": Gender.FEMALE, "M": Gender.MALE}


def _stream(gen: Generator, name: str) -> random.Random:
    return random.Random(f"rollsync.simulate:{gen.world.seed}:hard:{name}")


def _year_of(gen: Generator, dob: date) -> str | None:
    """The year group a date of birth puts a child in this academic year."""
    cohort = dob.year if dob.month >= 9 else dob.year - 1
    yi = gen.world.academic_year - 5 - cohort
    if not 0 <= yi <= 13:
        return None
    return "R" if yi == 0 else str(yi)


def _school_for(gen: Generator, year: str, avoid: School | None = None) -> School | None:
    found = [s for s in gen.world.schools if year in s.years and s is not avoid]
    return gen.rng.choice(found) if found else None


def add_hard_families(gen: Generator) -> None:
    saved = gen.rng
    gen.rng = _stream(gen, "families")
    try:
        _similar_twins(gen)
        _birthday_siblings(gen)
        _blended_families(gen)
    finally:
        gen.rng = saved


def _place(gen: Generator, school: School, p: Person, year: str, day: int = 1) -> Enrolment:
    start = gen.entry_date(school, year) if day == 1 else gen.world.date_of(day)
    return gen.enrol_pupil(school, p, year, start, day=day)


def _similar_twins(gen: Generator) -> None:
    rng = gen.rng
    primaries = [s for s in gen.world.schools if s.phase == "Primary"] or gen.world.schools
    pairs = rng.sample(n.SIMILAR_TWINS, min(gen.opts.hard_twin_pairs, len(n.SIMILAR_TWINS)))
    for k, ((first_name, g1), (second_name, g2)) in enumerate(pairs):
        school = rng.choice(primaries)
        year = rng.choice(school.years)
        hh = gen.household()
        first = gen.child(hh, year, gender=_GENDER[g1], given=first_name)
        second = gen.child(hh, year, gender=_GENDER[g2], given=second_name, twin_of=first)
        _place(gen, school, first, year)
        # The first pair shares a school from day 1; the others' second twin starts
        # on day 2 at another school, when the first twin has an account already.
        later = _school_for(gen, year, avoid=school) if k and len(gen.world.dates) >= 2 else None
        if later is None:
            _place(gen, school, second, year)
        else:
            e = _place(gen, later, second, year, day=2)
            if later.fmt != "ctf":  # a new arrival whose UPN the school has yet to enter
                e.name_overrides["upn"] = ""
            gen.rec.starters.append(
                {
                    "day": 2,
                    "urn": later.urn,
                    "role": Role.PUPIL.value,
                    "person_id": second.person_id,
                    "mis_id": e.mis_id,
                    "start_date": e.start_date.isoformat(),
                    "future": False,
                    "joins_family_in_la": True,
                }
            )
        gen.rec.twins.append([first.person_id, second.person_id])


def _birthday_siblings(gen: Generator) -> None:
    rng = gen.rng
    for _ in range(gen.opts.hard_birthday_siblings):
        for _try in range(20):
            school = rng.choice(gen.world.schools)
            year = rng.choice(school.years)
            older_dob = gen.birth_date(year)
            if older_dob.month == 2 and older_dob.day == 29:
                continue
            younger_dob = older_dob.replace(year=older_dob.year + 1)
            younger_year = _year_of(gen, younger_dob)
            if younger_year is None:
                continue
            other = school if younger_year in school.years else _school_for(gen, younger_year)
            if other is None:
                continue
            hh = gen.household()
            older = gen.child(hh, year, dob=older_dob)
            younger = gen.child(hh, younger_year, dob=younger_dob)
            _place(gen, school, older, year)
            _place(gen, other, younger, younger_year)
            break


def _blended_families(gen: Generator) -> None:
    rng = gen.rng
    for _ in range(gen.opts.hard_blended_families):
        school = rng.choice(gen.world.schools)
        hh = gen.household()
        step_surname = gen.surname(hh.origin)
        while step_surname == hh.surname:
            step_surname = gen.surname(gen.origin())
        for surname in (None, step_surname, None if rng.random() < 0.5 else step_surname):
            year = rng.choice(school.years)
            child = gen.child(hh, year, surname=surname)
            _place(gen, school, child, year)


# -- movers with a slip at the new school -----------------------------------------------

_KINDS = ("slip", "accent", "short", "swap", "digit", "surname")


def noisy_movers(churn: Churn, day: int) -> None:
    """Today's noisy movers (see the module)."""
    gen = churn.gen
    rng = _stream(gen, f"movers:{day}")
    count = int(gen.opts.hard_movers_per_day)
    if rng.random() < gen.opts.hard_movers_per_day - count:
        count += 1
    saved = churn.rng, gen.rng
    churn.rng = gen.rng = rng
    try:
        for _ in range(count):
            before = len(gen.rec.movers)
            if not churn.mover() or len(gen.rec.movers) == before:
                continue
            moved = gen.rec.movers[-1]
            school = gen.world.school(moved["to_urn"])
            _slip(gen, school, school.pupils[moved["person_id"]], rng.choice(_KINDS), day, churn)
            if school.fmt != "ctf" and rng.random() < gen.opts.hard_mover_without_upn_share:
                p = gen.world.people[moved["person_id"]]
                e = school.pupils[p.person_id]
                e.name_overrides["upn"] = ""
                record_typo(gen, school, p.person_id, "upn", "", p.upn or "", day, None)
    finally:
        churn.rng, gen.rng = saved


def _slip(gen: Generator, school: School, e: Enrolment, kind: str, day: int, churn: Churn) -> None:
    rng = gen.rng
    p = gen.world.people[e.person_id]
    given = p.legal_given
    if kind == "accent" and ascii_fold(given) != given:
        wrong = ascii_fold(given)
    elif kind == "short" and given in n.NICKNAMES:
        wrong = rng.choice(n.NICKNAMES[given])
    elif kind == "swap" and p.dob.day <= 12 and p.dob.day != p.dob.month:
        e.dob_override = date(p.dob.year, p.dob.day, p.dob.month)
        _typo(gen, school, p, "date_of_birth", e.dob_override.isoformat(), p.dob.isoformat(), day)
        return
    elif kind in ("swap", "digit"):
        e.dob_override = p.dob + timedelta(days=rng.choice((-1, 1)))
        if e.dob_override.month != p.dob.month:
            e.dob_override = p.dob.replace(year=p.dob.year + rng.choice((-1, 1)))
        _typo(gen, school, p, "date_of_birth", e.dob_override.isoformat(), p.dob.isoformat(), day)
        return
    elif kind == "surname":
        _new_surname(gen, p, churn)
        return
    else:
        wrong = misspell(ascii_fold(given), rng)
    if wrong != given:
        e.name_overrides["legal_given_name"] = wrong
        _typo(gen, school, p, "legal_given_name", wrong, given, day)


def _typo(
    gen: Generator, school: School, p: Person, field: str, wrong: str, right: str, day: int
) -> None:
    record_typo(gen, school, p.person_id, field, wrong, right, day, None)


def _new_surname(gen: Generator, p: Person, churn: Churn) -> None:
    """A parent's marriage or divorce: the child takes another surname as they move."""
    rng = gen.rng
    old = p.legal_family
    hh = gen.world.households.get(p.household_id or "")
    parents = [gen.world.people[c.person_id].legal_family for c in hh.contacts] if hh else []
    parents = [s for s in parents if s != old and "|" not in s]
    if parents and rng.random() < 0.5:
        new, reason = parents[0], "a parent's divorce: took the other parent's surname"
    else:
        female = p.gender is Gender.FEMALE
        new = surname_form(gen.surname(gen.origin()), female=female)
        reason = "a parent's marriage: took the step-parent's surname"
    if new == old:
        return
    p.legal_family = new
    if p.preferred_family == new:
        p.preferred_family = None
    churn._name_change(p.person_id, Role.PUPIL, "legal_family_name", old, new, reason)
