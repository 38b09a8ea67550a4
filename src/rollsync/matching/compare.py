"""Field-by-field comparison of two prepared subjects.

Each comparison sorts a pair into one of a few levels, strongest agreement first
and "different" last; a value missing on either side gives no level at all
(`NULL`), so it is neither for nor against. The levels, not the raw similarity
scores, carry the Fellegi-Sunter weights (`model.Model`): a pair's comparison
vector is one level per comparison, in `COMPARISONS` order.

String similarity comes from rapidfuzz (optimal string alignment distance,
Jaro-Winkler) and phonetic keys from jellyfish (Metaphone, in `normalise`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from rollsync.domain.quick import quick_init
from rollsync.matching.nicknames import are_short_forms
from rollsync.matching.normalise import one_slip_dates, swapped_day_month
from rollsync.matching.subject import Prepared

NULL = -1
Vector = tuple[int, ...]

# Similarity bands of the string levels: a "typo" is one edit (or Jaro-Winkler 0.92, a
# single slip in a long name); "similar" is a phonetic match or Jaro-Winkler 0.85.
# These define levels only; how much each level counts is estimated (model.py).
TYPO_JW = 0.92
SIMILAR_JW = 0.85


@quick_init
@dataclass(frozen=True, slots=True)
class Comparison:
    name: str
    label: str  # words for explanations: "forename"
    levels: tuple[str, ...]  # codes, strongest agreement first, "different" last
    phrases: tuple[str, ...]  # per level, how an explanation says it


GIVEN = Comparison(
    "given",
    "forename",
    ("exact", "alias", "typo", "similar", "initial", "swapped", "different"),
    (
        "same",
        "a short form or preferred name of the other",
        "one slip apart",
        "sounds alike",
        "an initial that fits",
        "swapped with the surname",
        "different",
    ),
)
FAMILY = Comparison(
    "family",
    "surname",
    ("exact", "alias", "typo", "similar", "swapped", "different"),
    (
        "same",
        "shares a part or a preferred surname",
        "one slip apart",
        "sounds alike",
        "swapped with the forename",
        "different",
    ),
)
DOB = Comparison(
    "dob",
    "date of birth",
    ("exact", "transposed", "typo", "different"),
    ("same", "day and month swapped", "one slip apart", "different"),
)
GENDER = Comparison("gender", "gender", ("exact", "different"), ("same", "different"))
UPN = Comparison(
    "upn",
    "UPN",
    ("exact", "temporary", "different"),
    ("same", "differs, but one is temporary", "different"),
)
HOME = Comparison(
    "home",
    "home",
    ("address", "postcode", "near", "district", "different"),
    (
        "same address",
        "same postcode",
        "the same house number and nearly the same street (another postcode)",
        "same postcode district",
        "different",
    ),
)
# A person has several email addresses and phones (school, personal, work): agreement
# is evidence, a difference is not (see `NO_WEIGHT_WHEN_DIFFERENT`).
EMAIL = Comparison("email", "email", ("exact", "different"), ("same", "different (not counted)"))
PHONE = Comparison("phone", "phone", ("exact", "different"), ("same", "different (not counted)"))
MIDDLE = Comparison(
    "middle",
    "middle names",
    ("exact", "partial", "different"),
    ("same", "partly the same", "different"),
)
CHILDREN = Comparison(
    "children",
    "linked pupils",
    ("shared", "different"),
    ("a pupil in common", "none in common"),
)

COMPARISONS: tuple[Comparison, ...] = (
    GIVEN,
    FAMILY,
    DOB,
    GENDER,
    UPN,
    HOME,
    EMAIL,
    PHONE,
    MIDDLE,
    CHILDREN,
)
INDEX = {c.name: i for i, c in enumerate(COMPARISONS)}
# Comparisons whose "different" level weighs nothing: m and u are still estimated for
# it (so agreement's weight is right), but a difference never counts against a pair.
NO_WEIGHT_WHEN_DIFFERENT = frozenset({"email", "phone"})
I_GIVEN, I_FAMILY, I_DOB, I_GENDER, I_UPN = 0, 1, 2, 3, 4
I_HOME, I_EMAIL, I_PHONE, I_MIDDLE, I_CHILDREN = 5, 6, 7, 8, 9


def level(comparison: Comparison, code: str) -> int:
    return comparison.levels.index(code)


G_EXACT, G_ALIAS, G_TYPO, G_SIMILAR, G_INITIAL, G_SWAPPED, G_DIFFERENT = range(7)
F_EXACT, F_ALIAS, F_TYPO, F_SIMILAR, F_SWAPPED, F_DIFFERENT = range(6)
D_EXACT, D_TRANSPOSED, D_TYPO, D_DIFFERENT = range(4)
U_EXACT, U_TEMPORARY, U_DIFFERENT = range(3)
H_ADDRESS, H_POSTCODE, H_NEAR, H_DISTRICT, H_DIFFERENT = range(5)
AGREE, DIFFERENT2 = 0, 1  # two-level comparisons
M_EXACT, M_PARTIAL, M_DIFFERENT = range(3)


def compare(a: Prepared, b: Prepared) -> Vector:
    """The comparison vector of a pair: one level (or NULL) per comparison."""
    swapped = _swapped(a, b)
    return (
        _given(a, b, swapped),
        _family(a, b, swapped),
        _dob(a, b),
        _two(a.gender, b.gender),
        _upn(a.upn, b.upn),
        _home(a, b),
        _sets(a.emails, b.emails),
        _sets(a.phones, b.phones),
        _middle(a, b),
        _sets(a.subject.children, b.subject.children),
    )


def _swapped(a: Prepared, b: Prepared) -> bool:
    """Forename and surname entered the wrong way round on one side, possibly with one
    slip as well ("Georte Kyra" / "Kyra George"): each name matches the other side's
    other name, at least one of them exactly, and neither matches its own counterpart."""
    if not (a.given_key and a.family_key and b.given_key and b.family_key):
        return False
    if a.given_key == a.family_key or b.given_key == b.family_key:
        return False
    cross_given = a.given_key in b.family_keys
    cross_family = b.given_key in a.family_keys
    if cross_given and cross_family:
        return True
    if not (cross_given or cross_family):
        return False
    if _close(a.given_key, b.given_key, TYPO_JW) or _close(a.family_key, b.family_key, TYPO_JW):
        return False  # a straight reading fits as well: not a swap
    return _close(a.given_key, b.family_key, TYPO_JW) and _close(b.given_key, a.family_key, TYPO_JW)


def _close(x: str, y: str, jw: float) -> bool:
    if not x or not y:
        return False
    if min(len(x), len(y)) >= 4 and OSA.distance(x, y, score_cutoff=1) <= 1:
        return True
    return JaroWinkler.similarity(x, y) >= jw


def _given(a: Prepared, b: Prepared, swapped: bool) -> int:
    if not a.given_key or not b.given_key:
        return NULL
    if a.given_key == b.given_key:
        return G_EXACT
    if swapped:
        return G_SWAPPED
    if _given_alias(a, b):
        return G_ALIAS
    if _close(a.given_first, b.given_first, TYPO_JW) or _close(a.given_key, b.given_key, TYPO_JW):
        return G_TYPO
    if a.given_sound == b.given_sound or (
        JaroWinkler.similarity(a.given_first, b.given_first) >= SIMILAR_JW
    ):
        return G_SIMILAR
    one, other = a.given_first, b.given_first
    if (len(one) == 1 or len(other) == 1) and one[:1] == other[:1]:
        return G_INITIAL
    return G_DIFFERENT


def _given_alias(a: Prepared, b: Prepared) -> bool:
    """Legal vs preferred name, the first of several given names, or a known short form.
    (A middle name is not enough: a twin's middle name is often the other's forename.)"""
    if a.preferred_key and a.preferred_key in (b.given_key, b.preferred_key):
        return True
    if b.preferred_key and b.preferred_key == a.given_key:
        return True
    if len(a.given_first) > 1 and a.given_first == b.given_first:
        return True  # "João Pedro" / "João"
    return any(are_short_forms(x, y) for x in a.given_words for y in b.given_words)


def _family(a: Prepared, b: Prepared, swapped: bool) -> int:
    if not a.family_key or not b.family_key:
        return NULL
    if a.family_key == b.family_key:
        return F_EXACT
    if swapped:
        return F_SWAPPED
    if a.family_keys & b.family_keys or a.family_core & b.family_core:
        return F_ALIAS
    if _close(a.family_key, b.family_key, TYPO_JW):
        return F_TYPO
    if (a.family_sound and a.family_sound == b.family_sound) or (
        JaroWinkler.similarity(a.family_key, b.family_key) >= SIMILAR_JW
    ):
        return F_SIMILAR
    return F_DIFFERENT


def _dob(a: Prepared, b: Prepared) -> int:
    if a.dob is None or b.dob is None:
        return NULL
    if a.dob == b.dob:
        return D_EXACT
    if swapped_day_month(a.dob) == b.dob:
        return D_TRANSPOSED
    if one_slip_dates(a.dob, b.dob):
        return D_TYPO
    return D_DIFFERENT


def _two(x: str | None, y: str | None) -> int:
    if x is None or y is None:
        return NULL
    return AGREE if x == y else DIFFERENT2


def _upn(x: str | None, y: str | None) -> int:
    if x is None or y is None:
        return NULL
    if x == y:
        return U_EXACT
    if x[-1].isalpha() or y[-1].isalpha():
        return U_TEMPORARY  # a temporary UPN is replaced by a permanent one later
    return U_DIFFERENT


def _home(a: Prepared, b: Prepared) -> int:
    both_addresses = bool(a.addresses and b.addresses)
    both_postcodes = bool(a.postcodes and b.postcodes)
    if not (both_addresses or both_postcodes):
        return NULL
    same_postcode = bool(a.postcodes & b.postcodes)
    if both_addresses and a.addresses & b.addresses and (same_postcode or not both_postcodes):
        return H_ADDRESS
    if same_postcode:
        return H_POSTCODE
    if both_addresses and any(near_addresses(x, y) for x in a.addresses for y in b.addresses):
        return H_NEAR
    if a.districts & b.districts:
        return H_DISTRICT
    return H_DIFFERENT


# How alike the words of two addresses with the same house number must be (rapidfuzz's
# 0-100 ratios) to count as one address keyed twice: "12 Kidston Crescent" /
# "12 kidstoncrescent", "30 Canberra Avenue Bombowzee" / "... Bombowlee".
NEAR_ADDRESS_RATIO = 85.0


def near_addresses(x: str, y: str) -> bool:
    """Two address keys (`normalise.address_key`: sorted words) with the same house
    numbers (or none on either) and nearly the same words: one address, keyed with a
    slip. The numbers must agree exactly: "12 High Street" and "14 High Street" are
    neighbours, not a slip."""
    x_numbers = [t for t in x.split() if any(ch.isdigit() for ch in t)]
    y_numbers = [t for t in y.split() if any(ch.isdigit() for ch in t)]
    if x_numbers != y_numbers:
        return False
    x_words = " ".join(t for t in x.split() if not any(ch.isdigit() for ch in t))
    y_words = " ".join(t for t in y.split() if not any(ch.isdigit() for ch in t))
    if not x_words or not y_words:
        return False  # a house number alone says nothing
    if x_words == y_words:
        return True
    if (
        fuzz.token_sort_ratio(x_words, y_words) >= NEAR_ADDRESS_RATIO
        or fuzz.ratio(x_words.replace(" ", ""), y_words.replace(" ", "")) >= NEAR_ADDRESS_RATIO
    ):
        return True
    # A word split or run together ("kidstoncrescent" / "kidston crescent") moves letters
    # across the sorted words: compare the letters themselves, long addresses only, and
    # nearly all of them ("mill lane" / "lime lane" share letters, not an address).
    x_letters = "".join(sorted(x_words.replace(" ", "")))
    y_letters = "".join(sorted(y_words.replace(" ", "")))
    return min(len(x_letters), len(y_letters)) >= 10 and fuzz.ratio(x_letters, y_letters) >= 95


def _sets(x: frozenset[str], y: frozenset[str]) -> int:
    if not x or not y:
        return NULL
    return AGREE if x & y else DIFFERENT2


def _middle(a: Prepared, b: Prepared) -> int:
    x, y = a.middle_words, b.middle_words
    if not x or not y:
        return NULL
    if x == y:
        return M_EXACT
    if x[0] == y[0] or set(x) & set(y):
        return M_PARTIAL
    if (len(x[0]) == 1 or len(y[0]) == 1) and x[0][0] == y[0][0]:
        return M_PARTIAL
    return M_DIFFERENT


# -- facts the guards read ----------------------------------------------------------


def same_surname(vector: Vector) -> bool:
    return vector[I_FAMILY] in (F_EXACT, F_ALIAS)


def same_forename(vector: Vector) -> bool:
    return vector[I_GIVEN] in (G_EXACT, G_ALIAS)


def same_household(a: Prepared, b: Prepared, vector: Vector) -> bool:
    """The same home address, a shared phone, or a shared household key (a contact)."""
    if vector[I_HOME] == H_ADDRESS or vector[I_PHONE] == AGREE:
        return True
    return bool(a.subject.household & b.subject.household)


def could_identify(a: Prepared, b: Prepared) -> bool:
    """A cheap look before comparing names: does any identifying field agree at all?
    (The same test as `has_identifying_agreement`, without the names.)"""
    if (
        a.dob is not None
        and b.dob is not None
        and (a.dob == b.dob or swapped_day_month(a.dob) == b.dob or one_slip_dates(a.dob, b.dob))
    ):
        return True
    if a.upn is not None and a.upn == b.upn:
        return True
    if a.emails & b.emails or a.phones & b.phones or a.postcodes & b.postcodes:
        return True
    if a.addresses & b.addresses and not (a.postcodes and b.postcodes):
        return True
    return bool(a.subject.children & b.subject.children)


def has_identifying_agreement(vector: Vector) -> bool:
    """Some agreement beyond the names: a name alone is never enough to link or to ask."""
    return (
        vector[I_DOB] in (D_EXACT, D_TRANSPOSED, D_TYPO)
        or vector[I_UPN] == U_EXACT
        or vector[I_EMAIL] == AGREE
        or vector[I_PHONE] == AGREE
        or vector[I_HOME] in (H_ADDRESS, H_POSTCODE)
        or vector[I_CHILDREN] == AGREE
    )


def forename_slip(a: Prepared, b: Prepared, vector: Vector) -> bool:
    """The first forenames are one keying slip apart: one letter added, dropped or
    changed, or two neighbours swapped ("Setn" / "Sean"). A dropped accent or a short
    form is no slip: those compare the same (`same_forename`)."""
    if vector[I_GIVEN] == G_TYPO:
        return True
    if vector[I_GIVEN] in (NULL, G_EXACT, G_ALIAS, G_INITIAL, G_SWAPPED):
        return False  # the same, a short form, an initial: not a slip to weigh
    x, y = a.given_first, b.given_first
    return min(len(x), len(y)) >= 3 and x != y and OSA.distance(x, y, score_cutoff=1) <= 1


def changed_surname_evidence(vector: Vector, *, same_contacts: bool = False) -> bool:
    """Another surname, but the same forename, date of birth, gender and home address
    (or the same contacts: `same_contacts`, a contact's phone or email in common): a
    surname changed (marriage, divorce, a parent's new name), not another person. Within
    one family a forename, birthday and gender together are one child: twins bear two
    forenames, and a step-sibling sharing all three is not a case a family makes."""
    if same_surname(vector) or vector[I_FAMILY] == NULL:
        return False
    return (
        same_forename(vector)
        and vector[I_DOB] == D_EXACT
        and vector[I_GENDER] == AGREE
        and (vector[I_HOME] == H_ADDRESS or same_contacts)
    )


def worth_asking(vector: Vector) -> str | None:
    """Why a pair is at least a question for a person, whatever its weight: a changed
    surname with the same forename, date of birth and gender; or the same names and
    gender with a date of birth one keying slip away. None when neither holds, or when
    the pair holds evidence of two people (permanent UPNs or middle names that differ)."""
    if not same_forename(vector) or vector[I_GENDER] == DIFFERENT2:
        return None
    if vector[I_UPN] == U_DIFFERENT or vector[I_MIDDLE] == M_DIFFERENT:
        return None  # two permanent UPNs, or two sets of middle names: two people
    if vector[I_DOB] == D_EXACT and not same_surname(vector) and vector[I_FAMILY] != NULL:
        return "another surname, but the same forename, date of birth and gender: asked, never a new account"
    if vector[I_DOB] in (D_TRANSPOSED, D_TYPO) and same_surname(vector):
        return (
            "the same names with a date of birth one keying slip away: asked, never a new account"
        )
    return None
