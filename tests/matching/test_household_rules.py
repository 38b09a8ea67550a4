"""The household rules (docs/matching.md, "Guards"): a forename slip is told from a twin
or sibling by evidence, a changed surname at the same address links, and near misses on
a date of birth or a surname are asked about, never made new accounts.

Each test fails without its rule: the slip would be a twin (not even offered), the
changed surname would be asked about or made new, the near miss would be new.
"""

from __future__ import annotations

from datetime import date, timedelta

from rollsync.domain.actions import ActionKind
from rollsync.domain.records import Gender
from rollsync.domain.state import ResolvedCase
from rollsync.matching import Evidence, MatchEngine, Outcome, Restriction, Subject
from rollsync.planning import plan
from tests.planning.helpers import LOCAL, Directory, batch, only, policy
from tests.planning.helpers import pupil as record

DOB = date(2015, 3, 4)
HOME = {"postcodes": ("AB1 2CD",), "addresses": ("1 High Street",)}
ENGINE = MatchEngine()


def pupil(id: str, given: str, family: str = "Murphy", **kw: object) -> Subject:
    kw.setdefault("dob", DOB)
    kw.setdefault("gender", "M")
    return Subject(id=id, given=given, family=family, role="pupil", **kw)  # type: ignore[arg-type]


def others(*names: str) -> list[Subject]:
    """Pupils elsewhere who bear these forenames: what tells a name from a slip."""
    return [
        pupil(
            f"other-{n}",
            name,
            f"Other{n}",
            dob=date(2010, 1, 1) + timedelta(days=n),
            postcodes=("ZZ9 9ZZ",),
        )
        for n, name in enumerate(names)
    ]


# -- a slip, not a twin ------------------------------------------------------------------


def test_a_forename_slip_nobody_else_bears_links_when_no_twin_is_known() -> None:
    account = pupil("a", "Seán", **HOME)
    (decision,) = ENGINE.decide([pupil("r", "Setn", **HOME)], [account, *others("Sean")])
    assert (decision.outcome, decision.target) == (Outcome.LINK, "a")
    assert decision.evidence is Evidence.WEIGHTS
    assert "'setn' is one slip from 'sean', which others bear" in decision.explanation


def test_the_same_slip_is_never_linked_when_a_twin_shares_surname_and_birthday() -> None:
    account = pupil("a", "Seán", **HOME)
    twin = pupil("twin", "Ciarán", **HOME)
    (decision,) = ENGINE.decide([pupil("r", "Setn", **HOME)], [account, twin, *others("Sean")])
    assert decision.outcome is not Outcome.LINK
    assert decision.target is None


def test_the_same_slip_is_never_linked_when_a_twin_arrives_in_the_same_upload() -> None:
    account = pupil("a", "Seán", **HOME)
    incoming = [pupil("r", "Setn", **HOME), pupil("r2", "Ciarán", **HOME)]
    decision, _ = ENGINE.decide(incoming, [account, *others("Sean", "Ciaran")])
    assert decision.outcome is not Outcome.LINK
    assert decision.target is None


def test_two_names_one_letter_apart_are_twins_ann_and_anna() -> None:
    # Both spellings are names other people bear: a different name, a different child.
    account = pupil("a", "Ann", gender="F", **HOME)
    (decision,) = ENGINE.decide(
        [pupil("r", "Anna", gender="F", **HOME)], [account, *others("Ann", "Anna")]
    )
    assert decision.outcome is not Outcome.LINK
    assert decision.target is None
    assert all(not c.auto for c in decision.candidates)


def test_a_slip_with_nothing_to_tell_it_by_stays_under_the_twins_guard() -> None:
    # Nobody else bears either spelling: no evidence which is the name.
    (decision,) = ENGINE.decide([pupil("r", "Setn", **HOME)], [pupil("a", "Seán", **HOME)])
    assert decision.outcome is not Outcome.LINK
    assert decision.target is None


def test_a_sibling_pattern_with_a_slip_and_a_mistyped_birthday_is_not_linked_by_the_rule() -> None:
    # Same surname and home, a forename slip, another birthday: the rule lifts the
    # sibling guard only when nobody shares the record's birthday; the weights decide.
    account = pupil("a", "Seán", dob=date(2016, 3, 4), **HOME)
    sibling = pupil("sib", "Ciarán", **HOME)  # born on the record's birthday
    (decision,) = ENGINE.decide([pupil("r", "Setn", **HOME)], [account, sibling, *others("Sean")])
    assert decision.outcome is not Outcome.LINK


# -- a forename that is nobody's name: a corrupted value, not a twin ------------------------

CROWD = [f"Name{n}" for n in range(40)]  # a directory big enough to say who bears a name


def _garbled(incoming: str, *extra: Subject, names: tuple[str, ...] = ("Rachel",), **kw: object):
    account = pupil("a", "Rachel", gender="F", **HOME)
    record = pupil("r", incoming, gender="F", **{**HOME, **kw})
    return ENGINE.decide([record], [account, *extra, *others(*names, *CROWD)])


def test_a_forename_that_is_nobodys_name_counts_as_missing_and_the_rest_links() -> None:
    # FEBRL's "Andtrea Coffey" for "Rachel Coffey": more than one slip from the
    # account's forename, borne by nobody, no slip of any name somebody bears. With
    # the surname, birthday, gender and home agreeing and nobody else sharing them, it
    # is a corrupted value: it weighs nothing either way (before: a twin, not offered).
    (decision,) = _garbled("Andtrea")
    assert (decision.outcome, decision.target) == (Outcome.LINK, "a")
    assert decision.evidence is Evidence.WEIGHTS
    forename = decision.candidates[0].fields[0]
    assert (forename.level, forename.weight) == ("different", 0.0)
    assert forename.phrase.endswith("nobody's name: counted as missing")
    assert "'andtrea' is nobody's name and not one slip from one" in decision.explanation


def test_a_forename_that_others_bear_is_another_child_not_a_corrupted_value() -> None:
    # "Claudia" is a name (somebody else bears it): a twin's, never linked nor offered.
    (decision,) = _garbled("Claudia", names=("Rachel", "Claudia"))
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


def test_a_slip_of_a_name_others_bear_is_another_child() -> None:
    # "Andtrea" is one slip from "Andrea", which somebody bears: Rachel's twin Andrea.
    (decision,) = _garbled("Andtrea", names=("Rachel", "Andrea"))
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


def test_a_nameless_forename_is_not_linked_when_a_twin_is_on_record() -> None:
    twin = pupil("twin", "Sophie", gender="F", **HOME)
    (decision,) = _garbled("Andtrea", twin)
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


def test_a_nameless_forename_is_not_linked_when_a_twin_arrives_in_the_same_upload() -> None:
    account = pupil("a", "Rachel", gender="F", **HOME)
    incoming = [
        pupil("r", "Andtrea", gender="F", **HOME),
        pupil("r2", "Sophie", gender="F", **HOME),
    ]
    decision, _ = ENGINE.decide(incoming, [account, *others("Rachel", "Sophie", *CROWD)])
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


def test_a_nameless_forename_is_not_linked_when_another_child_of_the_family_lives_there() -> None:
    sibling = pupil("sib", "Sophie", gender="F", dob=date(2017, 5, 6), **HOME)
    (decision,) = _garbled("Andtrea", sibling)
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


def test_a_nameless_forename_is_not_linked_when_another_child_of_the_family_shares_the_postcode() -> (
    None
):
    # Records with a postcode and no address: another child of that surname in the
    # postcode may be of the family.
    postcode = {"postcodes": ("AB1 2CD",)}
    account = pupil("a", "Rachel", gender="F", **postcode)
    sibling = pupil("sib", "Sophie", gender="F", dob=date(2017, 5, 6), **postcode)
    record = pupil("r", "Andtrea", gender="F", **postcode)
    crowd = others("Rachel", *CROWD)
    (alone,) = ENGINE.decide([record], [account, *crowd])
    assert (alone.outcome, alone.target) == (Outcome.LINK, "a")  # without the sibling
    (decision,) = ENGINE.decide([record], [account, sibling, *crowd])
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


def test_a_nameless_forename_is_not_linked_across_genders() -> None:
    account = pupil("a", "Rachel", gender="F", **HOME)
    record = pupil("r", "Andtrea", gender="M", **HOME)
    (decision,) = ENGINE.decide([record], [account, *others("Rachel", *CROWD)])
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


def test_a_nameless_forename_with_only_surname_and_birthday_is_not_linked() -> None:
    # Nothing beyond the surname and birthday agrees (another home): not "everything
    # else agrees", so the twins' guard stands.
    (decision,) = _garbled("Andtrea", postcodes=("XY1 1XY",), addresses=("9 Low Road",))
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


def test_a_nameless_forename_beside_a_name_nobody_else_bears_is_not_linked() -> None:
    # Neither spelling is borne by anybody else: nothing says which is the name.
    (decision,) = _garbled("Andtrea", names=())
    assert (decision.outcome, decision.candidates) == (Outcome.NEW, ())


# -- a changed surname ---------------------------------------------------------------------


def test_a_changed_surname_with_forename_birthday_gender_and_address_links() -> None:
    crowd = others(*[f"Name{n}" for n in range(40)])  # a bigger directory: a lower prior
    account = pupil("a", "Maya", "Patel", gender="F", **HOME)
    (decision,) = ENGINE.decide(
        [pupil("r", "Maya", "Hughes", gender="F", **HOME)], [account, *crowd]
    )
    assert (decision.outcome, decision.target) == (Outcome.LINK, "a")
    assert decision.evidence is Evidence.CHANGED_SURNAME
    assert decision.score < ENGINE.thresholds.link  # the weights alone would have asked
    assert decision.explanation.startswith("the surname changed: forename same (Maya)")


MUM = frozenset({"e:mum@example.org"})  # a contact's email: the household key


def test_a_changed_surname_with_forename_birthday_gender_and_the_same_contacts_links() -> None:
    crowd = others(*[f"Name{n}" for n in range(40)])
    account = pupil("a", "Maya", "Patel", gender="F", household=MUM)
    (decision,) = ENGINE.decide(
        [pupil("r", "Maya", "Hughes", gender="F", household=MUM)], [account, *crowd]
    )
    assert (decision.outcome, decision.target) == (Outcome.LINK, "a")
    assert decision.evidence is Evidence.CHANGED_SURNAME


def test_the_same_contacts_never_link_a_twin_under_a_new_surname() -> None:
    # Amy's twin Maya (same mother, birthday, gender) is in the directory; Amy arrives
    # under a new surname: another forename is another child, never linked.
    maya = pupil("a", "Maya", "Patel", gender="F", household=MUM)
    (decision,) = ENGINE.decide([pupil("r", "Amy", "Hughes", gender="F", household=MUM)], [maya])
    assert decision.outcome is not Outcome.LINK


def test_the_same_contacts_without_a_gender_are_asked_not_linked() -> None:
    account = pupil("a", "Maya", "Patel", gender="F", household=MUM)
    (decision,) = ENGINE.decide(
        [pupil("r", "Maya", "Hughes", gender=None, household=MUM)], [account]
    )
    assert decision.outcome is Outcome.CANDIDATES
    assert [c.id for c in decision.candidates] == ["a"]


def test_a_changed_surname_is_not_linked_when_another_candidate_is_as_plausible() -> None:
    account = pupil("a", "Maya", "Patel", gender="F", **HOME)
    also = pupil("b", "Maya", "Khan", gender="F", **HOME)
    (decision,) = ENGINE.decide([pupil("r", "Maya", "Hughes", gender="F", **HOME)], [account, also])
    assert decision.outcome is Outcome.CANDIDATES
    assert {c.id for c in decision.candidates} == {"a", "b"}


def test_a_changed_surname_with_less_evidence_is_asked_never_new() -> None:
    crowd = others(*["Maya"] * 400)  # a common forename: its agreement counts for less
    account = pupil("a", "Maya", "Patel", gender="F")
    (decision,) = ENGINE.decide([pupil("r", "Maya", "Hughes", gender="F")], [account, *crowd])
    assert decision.outcome is Outcome.CANDIDATES
    assert [c.id for c in decision.candidates] == ["a"]
    assert decision.score < ENGINE.thresholds.candidate  # the weights alone: a new account
    assert "asked, never a new account" in decision.explanation


def test_a_changed_surname_with_another_gender_is_left_alone() -> None:
    account = pupil("a", "Sam", "Patel", gender="F")
    (decision,) = ENGINE.decide([pupil("r", "Sam", "Hughes", gender="M")], [account])
    assert decision.outcome is Outcome.NEW
    assert decision.candidates == ()


# -- near misses on the date of birth ----------------------------------------------------------


def test_near_misses_on_the_birthday_are_asked_at_a_local_school() -> None:
    # A common name (many Maya Patels born on other days): the names count for little,
    # and the weights alone would say "new".
    crowd = [
        pupil(f"c{n}", "Maya", "Patel", gender="F", dob=date(1990, 1, 1) + timedelta(days=n))
        for n in range(3000)
    ]
    local = Restriction(tier=1)
    # One digit of the day, a year off by one, one digit of the month; and (the weights
    # ask about it already) day and month swapped.
    for dob in (date(2015, 3, 5), date(2016, 3, 4), date(2015, 8, 4), date(2015, 4, 3)):
        account = pupil("a", "Maya", "Patel", gender="F", dob=dob)
        (decision,) = ENGINE.decide(
            [pupil("r", "Maya", "Patel", gender="F")],
            [account, *crowd],
            restrict=lambda _i, c: local,
        )
        assert decision.outcome is Outcome.CANDIDATES, dob
        assert [c.id for c in decision.candidates] == ["a"]
        if dob != date(2015, 4, 3):
            assert decision.score < ENGINE.thresholds.candidate  # the weights alone: new
            assert "a date of birth one keying slip away" in decision.explanation


def test_a_birthday_two_slips_away_is_not_a_near_miss() -> None:
    account = pupil("a", "Maya", "Patel", gender="F", dob=date(2014, 5, 9))
    (decision,) = ENGINE.decide([pupil("r", "Maya", "Patel", gender="F")], [account])
    assert decision.outcome is Outcome.NEW
    assert decision.candidates == ()


def test_the_planner_never_makes_a_new_account_for_a_local_pupil_one_digit_off() -> None:
    d = Directory()
    home = {"postcode": "AB1 2CD", "address": "1 High Street"}
    for n in range(300):  # a full local school
        d.add(record(f"L-{n}", f"Name{n}", f"Family{n}", date_of_birth=date(2014, 1, 1)), urn=LOCAL)
    account = d.add(
        record("L-X", "Maya", "Patel", date_of_birth=date(2015, 3, 14), **home), urn=LOCAL
    )
    for given, home_here in (("Maya", home), ("Maya", {})):
        action = only(plan(batch(record("1", given, "Patel", **home_here)), d.state(), policy()))
        assert action.kind in (ActionKind.MOVE_IN, ActionKind.NEEDS_MATCHING), home_here
        shown = action.candidates[0].account_id if action.candidates else action.account_id
        assert shown == account.account_id


def test_the_planner_keeps_the_twins_guard_for_a_forename_that_is_nobodys_name() -> None:
    # The planner's snapshot counts names, not who lives where: the corrupted-forename
    # rule cannot check that no other child of the family lives there, so it never
    # applies there; a local account with another forename stays another child.
    d = Directory()
    home = {"postcode": "AB1 2CD", "address": "1 High Street"}
    for n in range(300):
        d.add(record(f"L-{n}", "Rachel", f"Family{n}", date_of_birth=date(2014, 1, 1)), urn=LOCAL)
    d.add(record("L-X", "Rachel", "Coffey", **home), urn=LOCAL)
    action = only(plan(batch(record("1", "Andtrea", "Coffey", **home)), d.state(), policy()))
    assert (action.kind, action.account_id, action.candidates) == (ActionKind.CREATE, None, ())


# -- the planner: a changed surname, and a case decided once -----------------------------------


def test_the_planner_links_a_mover_whose_surname_changed_at_the_same_address() -> None:
    d = Directory()
    home = {"postcode": "AB1 2CD", "address": "1 High Street"}
    for n in range(300):  # a full local school where Maya is a common name
        born = date(2014, 1, 1) + timedelta(days=n)
        d.add(record(f"L-{n}", "Maya", f"Family{n}", date_of_birth=born), urn=LOCAL)
    account = d.add(record("L-X", "Maya", "Patel", **home), urn=LOCAL)
    action = only(plan(batch(record("NEW", "Maya", "Hughes", **home)), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == account.account_id
    assert action.reason.startswith(
        "Matched by forename, date of birth, gender and home, the surname changed "
        "(Hughes / Patel) to the account at local school"
    )


def test_a_queued_case_shows_every_field_and_once_decided_is_never_asked_again() -> None:
    d = Directory()
    account = d.add(record("L-1", "Maya", "Patel", gender=Gender.FEMALE), urn=LOCAL)
    upload = batch(record("1", "Maya", "Hughes", gender=Gender.FEMALE))
    first = only(plan(upload, d.state(), policy()))
    assert first.kind is ActionKind.NEEDS_MATCHING
    (candidate,) = first.candidates
    assert candidate.account_id == account.account_id
    for words in (
        "forename same (Maya)",
        "surname different (Hughes / Patel)",
        "date of birth same (2015-03-04)",
        "gender same (F)",
    ):
        assert words in candidate.explanation
    # A person says: not this account. The next upload never asks again, nor offers it.
    rejected = d.state(
        resolved_cases=[ResolvedCase(1, first.role, "1", "created", None, frozenset({1}))]
    )
    again = only(plan(upload, rejected, policy()))
    assert again.kind is ActionKind.CREATE
    assert again.candidates == ()
    # A person says: this account. The next upload links it, without asking.
    linked = d.state(resolved_cases=[ResolvedCase(1, first.role, "1", "linked", 1, frozenset())])
    after = only(plan(upload, linked, policy()))
    assert after.kind is not ActionKind.NEEDS_MATCHING
    assert after.account_id == account.account_id
    assert after.candidates == ()


def test_a_changed_surname_with_another_permanent_upn_is_not_asked_about() -> None:
    from rollsync.domain.upn import make_upn

    crowd = others(*["Maya"] * 400)
    account = pupil("a", "Maya", "Patel", gender="F", upn=make_upn("202", "2001", 15, 1))
    record = pupil("r", "Maya", "Hughes", gender="F", upn=make_upn("202", "2001", 15, 2))
    (decision,) = ENGINE.decide([record], [account, *crowd])
    assert decision.outcome is Outcome.NEW
    assert decision.candidates == ()
