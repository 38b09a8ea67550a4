"""The engine's guards, each with the smallest records that show it (pure: no planner).

Every test asserts the decision and, on the negative path, that nothing was linked
and nothing was offered that must not be.
"""

from __future__ import annotations

from datetime import date

from rollsync.domain.upn import make_upn
from rollsync.matching import Evidence, MatchEngine, Outcome, Subject

DOB = date(2015, 3, 4)
UPN = make_upn("202", "2001", 15, 1)
OTHER_UPN = make_upn("202", "2001", 15, 2)
TEMPORARY_UPN = make_upn("202", "2001", 15, 3, temporary_letter="A")
ENGINE = MatchEngine()


def pupil(id: str, given: str = "Amy", family: str = "Smith", **kw: object) -> Subject:
    kw.setdefault("dob", DOB)
    kw.setdefault("gender", "F")
    return Subject(id=id, given=given, family=family, role="pupil", **kw)  # type: ignore[arg-type]


def test_the_same_person_links_with_an_explanation_field_by_field() -> None:
    (decision,) = ENGINE.decide([pupil("r")], [pupil("a")])
    assert decision.outcome is Outcome.LINK
    assert decision.target == "a"
    assert decision.evidence is Evidence.WEIGHTS
    assert decision.score >= 0.9999
    assert decision.explanation.endswith(
        "likely: forename same (Amy), surname same (Smith), date of birth same (2015-03-04), "
        "gender same (F)"
    )
    fields = {f.comparison: f.level for f in decision.candidates[0].fields}
    assert fields == {
        "given": "exact",
        "family": "exact",
        "dob": "exact",
        "gender": "exact",
        "upn": None,
        "home": None,
        "email": None,
        "phone": None,
        "middle": None,
        "children": None,
    }


def test_twins_are_never_linked_nor_offered_when_forenames_differ() -> None:
    (decision,) = ENGINE.decide([pupil("r", "Beth")], [pupil("amy")])
    assert decision.outcome is Outcome.NEW
    assert decision.target is None
    assert decision.candidates == ()


def test_a_twin_pattern_one_slip_apart_is_asked_about_never_linked() -> None:
    (decision,) = ENGINE.decide([pupil("r", "Jonathon")], [pupil("a", "Jonathan")])
    assert decision.outcome is Outcome.CANDIDATES
    assert decision.target is None
    assert [c.id for c in decision.candidates] == ["a"]
    assert not decision.candidates[0].auto
    assert "twins are never linked automatically" in decision.explanation


def test_siblings_sharing_a_home_are_never_linked() -> None:
    home = {"postcodes": ("AB1 2CD",), "addresses": ("1 High Street",)}
    # Born a year apart, forenames far apart: the same surname and home is a family.
    record = pupil("r", "Ben", dob=date(2016, 3, 4), gender="M", **home)
    (decision,) = ENGINE.decide([record], [pupil("amy", **home)])
    assert decision.outcome is Outcome.NEW
    assert decision.candidates == ()


def test_siblings_sharing_a_contact_are_never_linked() -> None:
    record = pupil("r", "Ben", dob=date(2015, 4, 3), household=frozenset({"t:07700900123"}))
    account = pupil("amy", household=frozenset({"t:07700900123"}))
    (decision,) = ENGINE.decide([record], [account])
    assert decision.outcome is Outcome.NEW
    assert decision.candidates == ()


def test_an_agreeing_upn_decides() -> None:
    # Another surname and a mistyped date of birth: the UPN still says who it is.
    record = pupil("r", family="Jones", dob=date(2015, 4, 3), upn=UPN)
    (decision,) = ENGINE.decide([record], [pupil("a", upn=UPN)])
    assert decision.outcome is Outcome.LINK
    assert decision.target == "a"
    assert decision.evidence is Evidence.UPN


def test_an_agreeing_upn_with_nothing_else_in_common_is_asked_about() -> None:
    record = pupil("r", "Zed", "Young", dob=date(2014, 1, 1), upn=UPN)
    (decision,) = ENGINE.decide([record], [pupil("a", upn=UPN)])
    assert decision.outcome is Outcome.CANDIDATES
    assert [c.id for c in decision.candidates] == ["a"]
    assert decision.explanation == "the UPN agrees, but nothing else does: a person checks"


def test_a_disagreeing_upn_blocks_an_automatic_link() -> None:
    (decision,) = ENGINE.decide([pupil("r", upn=UPN)], [pupil("a", upn=OTHER_UPN)])
    assert decision.outcome is Outcome.CANDIDATES
    assert decision.target is None
    assert decision.explanation == "the UPNs differ: never linked automatically"


def test_a_temporary_upn_that_differs_does_not_block() -> None:
    # A pupil from abroad gets a temporary UPN, later a permanent one: not a conflict.
    home = {"postcodes": ("AB1 2CD",), "addresses": ("1 High Street",)}
    record = pupil("r", upn=UPN, **home)
    (decision,) = ENGINE.decide([record], [pupil("a", upn=TEMPORARY_UPN, **home)])
    assert decision.outcome is Outcome.LINK
    assert decision.target == "a"
    assert decision.candidates[0].notes == ()


def staff(id: str, family: str, **kw: object) -> Subject:
    return Subject(
        id=id,
        given="Rachel",
        family=family,
        role="staff",
        dob=date(1982, 4, 19),
        gender="F",
        **kw,  # type: ignore[arg-type]
    )


def test_staff_who_changed_surname_link_when_the_other_evidence_is_strong() -> None:
    details = {"phones": ("07700 900082",), "emails": ("rachel@example.org",)}
    (decision,) = ENGINE.decide(
        [staff("r", "Harris", **details)], [staff("a", "Le Roux", **details)]
    )
    assert decision.outcome is Outcome.LINK
    assert decision.target == "a"
    surname = next(f for f in decision.candidates[0].fields if f.comparison == "family")
    assert surname.level == "different"
    assert surname.weight < 0


def test_staff_who_changed_surname_with_nothing_more_are_asked_about() -> None:
    (decision,) = ENGINE.decide([staff("r", "Harris")], [staff("a", "Le Roux")])
    assert decision.outcome is Outcome.CANDIDATES
    assert decision.target is None
    assert [c.id for c in decision.candidates] == ["a"]


def test_a_name_alone_never_links_nor_asks() -> None:
    record = Subject(id="r", given="Pat", family="Smith", role="contact")
    account = Subject(id="a", given="Pat", family="Smith", role="contact")
    (decision,) = ENGINE.decide([record], [account])
    assert decision.outcome is Outcome.NEW
    assert decision.candidates == ()


def test_a_shared_pupil_is_evidence_for_a_contact() -> None:
    record = Subject(
        id="r", given="Pat", family="Smith", role="contact", children=frozenset({"upn:X"})
    )
    account = Subject(
        id="a", given="Pat", family="Smith", role="contact", children=frozenset({"upn:X"})
    )
    (decision,) = ENGINE.decide([record], [account])
    assert decision.outcome is Outcome.LINK
    assert decision.target == "a"


def test_roles_never_mix() -> None:
    record = pupil("r")
    account = Subject(id="a", given="Amy", family="Smith", role="staff", dob=DOB, gender="F")
    (decision,) = ENGINE.decide([record], [account])
    assert decision.outcome is Outcome.NEW
    assert decision.candidates == ()


def test_two_equally_good_candidates_are_never_picked_between() -> None:
    (decision,) = ENGINE.decide([pupil("r")], [pupil("a"), pupil("b")])
    assert decision.outcome is Outcome.CANDIDATES
    assert [c.id for c in decision.candidates] == ["a", "b"]


def test_one_candidate_is_never_linked_to_two_records() -> None:
    first, second = ENGINE.decide([pupil("r1", upn=UPN), pupil("r2")], [pupil("a", upn=UPN)])
    assert (first.outcome, first.target) == (Outcome.LINK, "a")
    assert second.outcome is Outcome.CANDIDATES
    assert second.target is None
    assert second.taken_by == "r1"
