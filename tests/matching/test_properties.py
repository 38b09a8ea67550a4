"""Properties of the engine over many small candidate sets (hypothesis)."""

from __future__ import annotations

import dataclasses
from datetime import date

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rollsync.domain.upn import make_upn
from rollsync.matching import Decision, MatchEngine, Outcome, Subject

ENGINE = MatchEngine()
# No two forenames (or surnames) here are one slip apart or short forms of each other,
# so the twins' and siblings' guards see families, never near-misses.
GIVEN = ["Amy", "Benedict", "Zoë", "Dev", "Siobhán", "Farah", "Łukasz"]
FAMILY = ["Smith", "O'Brien", "Nowak", "Reyes", "Okafor-Chen", "van der Berg"]
DOBS = [date(2015, 3, 4), date(2014, 9, 1), date(2016, 1, 20)]
POSTCODES = ["AB1 2CD", "MK21 3YJ", "WD9 7FH"]
STREETS = ["1 High Street", "22 Primrose Avenue", "7 Mill Lane"]
UPNS = [None, *(make_upn("202", "2001", 15, n) for n in range(1, 6))]


@st.composite
def people(draw: st.DrawFn, id: str) -> Subject:
    home = draw(st.integers(0, 2))
    return Subject(
        id=id,
        given=draw(st.sampled_from(GIVEN)),
        family=draw(st.sampled_from(FAMILY)),
        role="pupil",
        dob=draw(st.sampled_from(DOBS)),
        gender=draw(st.sampled_from(["M", "F"])),
        upn=draw(st.sampled_from(UPNS)),
        postcodes=(POSTCODES[home],),
        addresses=(STREETS[home],),
    )


@st.composite
def directories(draw: st.DrawFn) -> list[Subject]:
    n = draw(st.integers(1, 8))
    found = [draw(people(f"a{k}")) for k in range(n)]
    upns = [s.upn for s in found if s.upn]
    assume(len(upns) == len(set(upns)))  # a UPN belongs to one person
    return found


def _identity(s: Subject) -> tuple[object, ...]:
    """What tells two people apart when no UPN does (gender alone is not enough to link
    one of two people with the same name, birthday and home: a person is asked)."""
    return (s.given, s.family, s.dob, s.postcodes)


def _summary(d: Decision) -> tuple[object, ...]:
    return (d.outcome, d.target, tuple(c.id for c in d.candidates), round(d.score, 12))


@settings(max_examples=150, deadline=None)
@given(directories(), st.lists(people("r"), min_size=1, max_size=4), st.data())
def test_decisions_do_not_depend_on_the_order_of_records(
    candidates: list[Subject], incoming: list[Subject], data: st.DataObject
) -> None:
    incoming = [dataclasses.replace(s, id=f"r{n}") for n, s in enumerate(incoming)]
    decided = ENGINE.decide(incoming, candidates)
    first = {s.id: _summary(d) for s, d in zip(incoming, decided, strict=True)}
    shuffled_in = data.draw(st.permutations(incoming))
    shuffled_cands = data.draw(st.permutations(candidates))
    again = ENGINE.decide(shuffled_in, shuffled_cands)
    assert {s.id: _summary(d) for s, d in zip(shuffled_in, again, strict=True)} == first


@settings(max_examples=150, deadline=None)
@given(directories(), st.data())
def test_a_record_always_links_to_itself(candidates: list[Subject], data: st.DataObject) -> None:
    me = data.draw(st.sampled_from(candidates))
    if me.upn is None:  # else the UPN decides
        assume(sum(_identity(c) == _identity(me) for c in candidates) == 1)
    (decision,) = ENGINE.decide([dataclasses.replace(me, id="record")], candidates)
    assert decision.outcome is Outcome.LINK
    assert decision.target == me.id


_ACCENTED = str.maketrans({"a": "á", "e": "é", "o": "ö", "u": "ü", "i": "ï", "n": "ñ", "c": "ç"})


def _restyle(text: str, style: str) -> str:
    if style == "upper":
        return text.upper()
    if style == "lower":
        return text.lower()
    if style == "accents":
        return text.translate(_ACCENTED)
    return text


@settings(max_examples=150, deadline=None)
@given(
    directories(),
    people("r"),
    st.sampled_from(["upper", "lower", "accents"]),
    st.sampled_from(["given", "family"]),
)
def test_case_or_accents_of_a_name_never_change_the_decision(
    candidates: list[Subject], record: Subject, style: str, field: str
) -> None:
    (before,) = ENGINE.decide([record], candidates)
    restyled = dataclasses.replace(record, **{field: _restyle(getattr(record, field), style)})
    (after,) = ENGINE.decide([restyled], candidates)
    assert _summary(after) == _summary(before)
