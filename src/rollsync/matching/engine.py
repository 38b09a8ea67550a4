"""The matching engine: one decision per incoming record.

    engine = MatchEngine()                       # the shipped model
    index = CandidateIndex(candidates)           # once per candidate side
    decisions = engine.decide(incoming, index)   # Link, Candidates or New, in order

For each incoming record the engine blocks (`blocking`), compares field by field
(`compare`), weighs the levels (`model`), applies the guards below, and decides:

- LINK to one candidate: its probability is at least `Thresholds.link` and every
  other candidate is at least `Thresholds.margin_bits` weaker (one candidate can be
  sure only if no other is close); or a UPN that agrees decides;
- CANDIDATES, best first, for a person to decide: anything at least
  `Thresholds.candidate` likely that could not be linked;
- NEW: nothing plausible.

Guards (each says so in the explanation):

- twins: the same surname and date of birth with another forename are two
  children: never linked automatically; offered to a person only when the
  forenames are one slip apart ("Jonathan"/"Jonathon"), else not at all;
- siblings: the same surname and household (address, phone, a contact) with
  another forename: the same;
- a slip is not a twin: a forename one slip from the candidate's ("Setn" /
  "Sean"), where exactly one of the two spellings is a name somebody else bears
  (among the candidates or the incoming records; the other is nobody's, nor a
  listed short form) and no other person shares the surname and date of birth,
  counts as the same forename and lifts the two guards above: the weights decide;
- a changed surname with the same forename, date of birth, gender and home address
  links when it is the only plausible candidate;
  a changed surname with less, or the same names with a date of birth one slip
  away, is at least a question for a person, never a new account;
- UPN: one that agrees decides (unless the pair is a twin pattern, or nothing
  else agrees at all: then a person is asked); two permanent UPNs that differ
  block an automatic link;
- a name alone is never evidence enough, to link or to ask: some identifying
  field (date of birth, UPN, email, phone, home, a linked pupil) must agree;
- one candidate is linked to one record: when two records would take it, the
  stronger keeps it and the other is asked about;
- the caller's restrictions (`Restriction`): a candidate that may only be offered,
  may be linked only by its UPN, or must never be offered to a given record
  (a person decided it is someone else).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rapidfuzz.distance import OSA

from rollsync.domain.quick import quick_init
from rollsync.matching import compare as cmp
from rollsync.matching.blocking import CandidateIndex, home_keys
from rollsync.matching.compare import COMPARISONS, NULL, Vector
from rollsync.matching.model import TF_LEVELS, Model, bits, default_model, probability
from rollsync.matching.nicknames import name_families
from rollsync.matching.subject import Prepared, Subject, prepare


class Outcome(StrEnum):
    LINK = "link"
    CANDIDATES = "candidates"
    NEW = "new"


class Evidence(StrEnum):
    """What decided a link."""

    UPN = "upn"
    WEIGHTS = "weights"  # the probabilistic score
    CHANGED_SURNAME = "changed surname"  # forename, date of birth, gender and home agree


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where the engine draws its lines (see docs/matching.md for why these values).

    `link`: the probability an automatic link needs. `margin_bits`: how much weaker
    (in bits of match weight: 10 bits is odds of 1024 to 1) every other candidate
    must be. `candidate`: the least probability worth a person's time.
    """

    link: float = 0.9999
    margin_bits: float = 10.0
    candidate: float = 0.01
    max_candidates: int = 5


@dataclass(frozen=True, slots=True)
class Restriction:
    """What the caller allows for one candidate.

    `auto`: may be linked on the weights; `upn_auto`: may be linked when its UPN
    decides; `offer`: may be offered to a person at all; `tier`: nearness (0 first:
    a sure match in a nearer tier wins over an equally good one further off);
    `note`: said when the restriction stops a link; `prior`: the probability, before
    any field is compared, that the record is this candidate, when the caller knows
    better than one in the candidate side's size (the planner: an account here whose
    MIS ID vanished from this upload).
    """

    auto: bool = True
    upn_auto: bool = True
    offer: bool = True
    tier: int = 0
    note: str = ""
    prior: float | None = None


FREE = Restriction()


@quick_init
@dataclass(frozen=True, slots=True)
class FieldResult:
    comparison: str  # "given"
    label: str  # "forename"
    level: str | None  # "exact", ..., None when a side has no value
    phrase: str  # "same", "one slip apart", "missing"
    weight: float  # bits
    left: str
    right: str


@quick_init
@dataclass(frozen=True, slots=True)
class Scored:
    """One candidate for one incoming record, with the evidence field by field."""

    id: Hashable
    probability: float
    weight: float  # bits, prior included
    fields: tuple[FieldResult, ...]
    notes: tuple[str, ...] = ()  # guards and restrictions that applied
    decisive_upn: bool = False
    auto: bool = True  # no guard or restriction stops an automatic link
    tier: int = 0

    def agreement(self) -> str:
        """ "forename same (Amy), surname different (Smith / Jones), ..." """
        parts = []
        for f in self.fields:
            if f.level is None:
                continue
            shown = f.left if f.left == f.right else f"{f.left} / {f.right}"
            parts.append(f"{f.label} {f.phrase} ({shown})")
        return ", ".join(parts)

    def explain(self) -> str:
        text = f"{self.probability:.2%} likely: {self.agreement()}"
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text


@quick_init
@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    target: Hashable | None = None  # the linked candidate
    evidence: Evidence | None = None
    score: float = 0.0  # the probability of the best candidate (0 when none)
    candidates: tuple[Scored, ...] = ()  # best first; for LINK the linked one first
    explanation: str = ""
    taken_by: Hashable | None = None  # the record that took this one's best match


Restrict = Callable[[int, Prepared], Restriction]

# The decision for a record with no candidate worth offering.
NOTHING_PLAUSIBLE = Decision(Outcome.NEW, explanation="No existing record is plausibly this person")


class MatchEngine:
    def __init__(self, model: Model | None = None, thresholds: Thresholds | None = None) -> None:
        self.model = model or default_model()
        self.thresholds = thresholds or Thresholds()

    def index(self, candidates: Sequence[Subject | Prepared]) -> CandidateIndex:
        return CandidateIndex(candidates)

    def decide(
        self,
        incoming: Sequence[Subject | Prepared],
        index: CandidateIndex | Sequence[Subject | Prepared],
        *,
        restrict: Restrict | None = None,
        claimed: Mapping[Hashable, str] | None = None,
        blocks: Sequence[Sequence[int]] | None = None,
    ) -> list[Decision]:
        """One decision per incoming record, in order.

        `restrict(i, candidate)` gives the caller's restriction for incoming record i;
        `claimed` maps candidates already taken (by stronger evidence outside the engine)
        to the words that say by whom: they are offered, never linked. `blocks`, when
        given, lists per incoming record the positions in `index` to compare (the caller
        blocked already, by the same keys); else the index blocks.
        """
        if not isinstance(index, CandidateIndex):
            index = CandidateIndex(index)
        prepared = [p if isinstance(p, Prepared) else prepare(p) for p in incoming]
        claimed = claimed or {}
        if blocks is not None and len(blocks) != len(prepared):
            raise ValueError("one block per incoming record")
        context = _Context(prepared)
        decisions = [
            self._decide_one(
                i,
                p,
                index,
                restrict,
                claimed,
                index.block(p) if blocks is None else blocks[i],
                context,
            )
            for i, p in enumerate(prepared)
        ]
        return _settle_conflicts(prepared, decisions)

    def score(
        self,
        record: Subject | Prepared,
        candidate: Subject | Prepared,
        index: CandidateIndex | None = None,
    ) -> Scored:
        """The evidence for one pair, without the guards (for explanations). Value
        frequencies come from `index` (the candidate side) when given."""
        a = record if isinstance(record, Prepared) else prepare(record)
        b = candidate if isinstance(candidate, Prepared) else prepare(candidate)
        index = index or CandidateIndex([b])
        vector = cmp.compare(a, b)
        pair = _Pair(b, vector, [], False, True, 0)
        pair.weight = self.model.prior_bits(index.size(b.role)) + self._weight(vector, b, index)
        pair.probability = probability(pair.weight)
        return self._materialise(a, pair, index)

    # -- one record -------------------------------------------------------------------

    def _decide_one(
        self,
        i: int,
        p: Prepared,
        index: CandidateIndex,
        restrict: Restrict | None,
        claimed: Mapping[Hashable, str],
        block: Sequence[int],
        context: _Context,
    ) -> Decision:
        found: list[_Pair] = []
        prior = self.model.prior_bits(index.size(p.role))
        for j in block:
            c = index.prepared[j]
            if p.role != c.role or not cmp.could_identify(p, c):
                continue  # a name alone never links nor asks: skip before comparing names
            vector = cmp.compare(p, c)
            restriction = restrict(i, c) if restrict is not None else FREE
            if not restriction.offer:
                continue
            pair = self._guarded(p, c, vector, restriction, lambda: _Family(index, block, context))
            if pair is None:
                continue
            holder = claimed.get(c.id)
            if holder is not None:
                pair.auto = pair.decisive_upn = False
                pair.notes.append(holder)
            pair_prior = prior if restriction.prior is None else max(prior, bits(restriction.prior))
            pair.weight = pair_prior + self._weight(vector, c, index, pair.slip, pair.garbled)
            pair.probability = probability(pair.weight)
            upn_agrees = vector[cmp.I_UPN] == cmp.U_EXACT  # never pass over a shared UPN
            floor = cmp.worth_asking(vector)
            if floor is not None and pair.probability < self.thresholds.candidate:
                pair.notes.append(floor)
            if upn_agrees or floor is not None or pair.probability >= self.thresholds.candidate:
                found.append(pair)
        found.sort(key=lambda x: (-x.decisive_upn, -x.weight, x.tier, _id_key(x.c.id)))
        return self._choose(p, found, index)

    def _guarded(
        self,
        p: Prepared,
        c: Prepared,
        vector: Vector,
        restriction: Restriction,
        family: Callable[[], _Family],
    ) -> _Pair | None:
        """The pair after the guards; None when it must not even be offered."""
        notes: list[str] = []
        auto = restriction.auto
        if not cmp.has_identifying_agreement(vector):
            return None  # a name alone never links nor asks
        different_forename = not cmp.same_forename(vector) and vector[cmp.I_GIVEN] != NULL
        same_surname = cmp.same_surname(vector)
        twin = same_surname and vector[cmp.I_DOB] == cmp.D_EXACT and different_forename
        sibling = same_surname and different_forename and cmp.same_household(p, c, vector)
        slip = cmp.forename_slip(p, c, vector)
        one_slip = vector[cmp.I_GIVEN] in (cmp.G_TYPO, cmp.G_INITIAL)
        # A slip nobody else's name explains: the forename agrees, twin or not.
        why = family().only_a_slip(p, c, vector) if slip else ""
        if why:
            notes.append(why)
            twin = sibling = False
        # A forename that is nobody's name where all else agrees: a corrupted value.
        garbled = family().garbled(p, c, vector) if twin and not why else ""
        if garbled:
            notes.append(garbled)
            twin = sibling = False
        upn = vector[cmp.I_UPN]
        decisive = False
        if upn == cmp.U_EXACT:
            plainly_other = (
                vector[cmp.I_DOB] in (cmp.D_DIFFERENT, NULL)
                and vector[cmp.I_GIVEN] in (cmp.G_DIFFERENT, NULL)
                and vector[cmp.I_FAMILY] in (cmp.F_DIFFERENT, NULL)
            )
            if plainly_other:
                notes.append("the UPN agrees, but nothing else does: a person checks")
            elif (twin or sibling) and not one_slip:
                notes.append(
                    "the UPN agrees, but the forename differs where a twin's or sibling's "
                    "would: a person checks"
                )
            elif restriction.upn_auto:
                decisive = True  # one slip in a forename with the same UPN: the same child
        elif (twin or sibling) and not one_slip:
            return None  # another child of the family: not a question to ask
        if (twin or sibling) and not decisive:
            auto = False
            notes.append(
                "same surname and date of birth but another forename: twins are never "
                "linked automatically"
                if twin
                else "same surname and household but another forename: siblings are never "
                "linked automatically"
            )
        if upn == cmp.U_DIFFERENT:
            auto = False
            notes.append("the UPNs differ: never linked automatically")
        if not (restriction.auto and restriction.upn_auto) and restriction.note:
            notes.append(restriction.note)
        return _Pair(
            c,
            vector,
            notes,
            decisive,
            auto,
            restriction.tier,
            slip=bool(why),
            garbled=bool(garbled),
        )

    def _weight(
        self,
        vector: Vector,
        c: Prepared,
        index: CandidateIndex,
        slip: bool = False,
        garbled: bool = False,
    ) -> float:
        model = self.model
        total = 0.0
        for n, lvl in enumerate(vector):
            if lvl == NULL or (garbled and n == cmp.I_GIVEN):
                continue  # a garbled forename says nothing, as a missing one
            if slip and n == cmp.I_GIVEN:
                total += model.weight(n, cmp.G_EXACT)  # a slip of this name: it agrees
                continue
            u = self._tf_u(n, c, index) if _TF_BY_INDEX.get(n) == lvl else None
            total += model.weight(n, lvl, u)
        return total

    def _materialise(self, p: Prepared, pair: _Pair, index: CandidateIndex) -> Scored:
        """The pair with its evidence spelt out field by field."""
        fields = []
        c = pair.c
        for n, (comparison, lvl) in enumerate(zip(COMPARISONS, pair.vector, strict=True)):
            u = self._tf_u(n, c, index) if lvl != NULL and _TF_BY_INDEX.get(n) == lvl else None
            weight = self.model.weight(n, lvl, u)
            phrase = "missing" if lvl == NULL else comparison.phrases[lvl]
            if pair.slip and n == cmp.I_GIVEN:
                weight = self.model.weight(n, cmp.G_EXACT)
                phrase += ", a slip: counted as the same"
            elif pair.garbled and n == cmp.I_GIVEN:
                weight = 0.0
                phrase += ", nobody's name: counted as missing"
            fields.append(
                FieldResult(
                    comparison.name,
                    comparison.label,
                    None if lvl == NULL else comparison.levels[lvl],
                    phrase,
                    round(weight, 2),
                    _shown(comparison.name, p),
                    _shown(comparison.name, c),
                )
            )
        return Scored(
            id=c.id,
            probability=pair.probability,
            weight=round(pair.weight, 4),
            fields=tuple(fields),
            notes=tuple(pair.notes),
            decisive_upn=pair.decisive_upn,
            auto=pair.auto,
            tier=pair.tier,
        )

    def _tf_u(self, n: int, c: Prepared, index: CandidateIndex) -> float:
        """u of an exact agreement on this value: how often another candidate holds it.

        Two estimates, blended by how well the candidate side measures its own:
        - `measured`: the count (the candidate itself included) over the others and
          1/u_side pseudo-candidates, where u_side is the chance that two random
          candidates agree on the field (a school's dates of birth cluster in its year
          groups; FEBRL's spread over a century): a prior worth one agreement, whose
          mean is u_side. u_side is the side's agreeing pairs with the model's u as a
          prior worth `U_SIDE_PRIOR_AGREEMENTS` agreements;
        - `cautious`: the count over the candidates and `tf_strength` more, as if the
          directory were at least that big (what a tiny directory can say).
        The weight of `measured` is the data's share in u_side: a directory of a few
        dozen keeps the cautious u, one of thousands uses its own frequencies. Blended
        in bits, as the evidence it is."""
        name = COMPARISONS[n].name
        value: str | date | None = (
            c.given_key if name == "given" else c.family_key if name == "family" else c.dob
        )
        assert value is not None
        count, size = index.frequency(c.role, name, value)
        strength = self.model.tf_strength
        model_u = self.model.u[n][0]
        cautious = (count + strength * model_u) / (size + strength)
        agreeing, pairs = index.frequencies.agreement(c.role, name)
        if not pairs:
            return cautious
        prior_pairs = U_SIDE_PRIOR_AGREEMENTS / model_u
        u_side = (agreeing + prior_pairs * model_u) / (pairs + prior_pairs)
        held = index.frequencies.held[(c.role or "", name)]
        # The candidate holds its value even when the counts were made without it (the
        # planner compares an account as another record of the upload leaves it).
        own = max(count, 1)
        measured = own / (max(held, own) - 1 + 1 / u_side)
        trust = pairs / (pairs + prior_pairs)
        return math.exp(trust * math.log(measured) + (1 - trust) * math.log(cautious))

    def _choose(self, p: Prepared, found: list[_Pair], index: CandidateIndex) -> Decision:
        t = self.thresholds
        if not found:
            return NOTHING_PLAUSIBLE

        def shown(first: _Pair | None = None) -> tuple[Scored, ...]:
            ordered = [first, *[x for x in found if x is not first]] if first else found
            return tuple(self._materialise(p, x, index) for x in ordered[: t.max_candidates])

        by_upn = [x for x in found if x.decisive_upn]
        if len(by_upn) == 1:
            scored = shown(by_upn[0])
            return Decision(
                Outcome.LINK,
                by_upn[0].c.id,
                Evidence.UPN,
                by_upn[0].probability,
                scored,
                f"the UPN agrees; {scored[0].agreement()}",
            )
        if len(by_upn) > 1:
            return self._ask(found, shown(), f"{len(by_upn)} records have this UPN")
        for x in found:
            if not x.auto or x.probability < t.link:
                continue
            if all(_beaten(x, other, t.margin_bits) for other in found if other is not x):
                scored = shown(x)
                return Decision(
                    Outcome.LINK,
                    x.c.id,
                    Evidence.WEIGHTS,
                    x.probability,
                    scored,
                    scored[0].explain(),
                )
        changed = [
            x
            for x in found
            if x.auto
            and cmp.changed_surname_evidence(
                x.vector, same_contacts=bool(p.subject.household & x.c.subject.household)
            )
        ]
        if len(changed) == 1 and all(
            _beaten(changed[0], other, t.margin_bits) for other in found if other is not changed[0]
        ):
            x = changed[0]
            scored = shown(x)
            return Decision(
                Outcome.LINK,
                x.c.id,
                Evidence.CHANGED_SURNAME,
                x.probability,
                scored,
                f"the surname changed: {scored[0].agreement()}",
            )
        return self._ask(found, shown(), "")

    def _ask(self, found: list[_Pair], shown: tuple[Scored, ...], why: str) -> Decision:
        best = found[0]
        if not why:
            if best.notes:
                why = best.notes[0]
            elif best.probability >= self.thresholds.link:
                why = "another record is nearly as likely"
            else:
                why = "not sure enough to link automatically"
        return Decision(Outcome.CANDIDATES, None, None, best.probability, shown, why)


@dataclass(slots=True)
class _Pair:
    """A pair while the engine weighs it (cheap; `Scored` is made only for those shown)."""

    c: Prepared
    vector: Vector
    notes: list[str]
    decisive_upn: bool
    auto: bool
    tier: int
    weight: float = 0.0
    probability: float = 0.0
    slip: bool = False  # the forename is a slip of the other's (`_Family.only_a_slip`)
    garbled: bool = False  # the record's forename is nobody's name (`_Family.garbled`)


_TF_BY_INDEX = {n: TF_LEVELS[c.name] for n, c in enumerate(COMPARISONS) if c.name in TF_LEVELS}


class _Context:
    """What the whole incoming side says, counted once per `decide`: which first
    forenames it holds, and who shares a surname and date of birth (a twin arriving in
    the same upload)."""

    def __init__(self, incoming: Sequence[Prepared]) -> None:
        self.forenames: Counter[str] = Counter(p.given_first for p in incoming if p.given_first)
        self.born: dict[tuple[str | None, date, str], set[str]] = defaultdict(set)
        for p in incoming:
            if p.dob is not None and p.family_key:
                self.born[(p.role, p.dob, p.family_key)].add(p.given_first)
        self._near: dict[str, bool] = {}

    def near_a_name(self, spelling: str, candidates: Counter[str]) -> bool:
        """Some forename on either side (not this spelling) is one keying slip from it.
        Asked only of a twin's pattern with an odd forename: rare, and cached."""
        known = self._near.get(spelling)
        if known is None:
            known = any(
                name != spelling and OSA.distance(spelling, name, score_cutoff=1) <= 1
                for names in (candidates, self.forenames)
                for name in names
            )
            self._near[spelling] = known
        return known


@dataclass(slots=True)
class _Family:
    """The evidence that tells a slip from a twin or sibling, for one incoming record."""

    index: CandidateIndex
    block: Sequence[int]
    context: _Context

    def bears(self, name: str) -> int:
        """How many people hold this first forename, on either side."""
        return self.index.frequencies.forenames[name] + self.context.forenames[name]

    def only_a_slip(self, p: Prepared, c: Prepared, vector: Vector) -> str:
        """Words saying why the forenames are one person's, or "" when they may be two
        people's: only when one spelling is borne by somebody else and the other by
        nobody else (nor is it a listed short form), the genders agree, and no other
        person, among the candidates or the incoming records, shares the surname and
        date of birth."""
        if vector[cmp.I_GENDER] == cmp.DIFFERENT2 or p.dob is None:
            return ""
        mine, theirs = p.given_first, c.given_first
        # Each side holds its own spelling once: that is not somebody else.
        others_mine = self.bears(mine) - 1
        others_theirs = self.bears(theirs) - 1
        if _rare_beside(others_mine, others_theirs) and not name_families(mine):
            typo, name = mine, theirs
        elif _rare_beside(others_theirs, others_mine) and not name_families(theirs):
            typo, name = theirs, mine
        else:
            return ""  # two names (Ann / Anna), or nothing to tell them by
        for j in self.block:
            other = self.index.prepared[j]
            if (
                other.id != c.id
                and other.role == p.role
                and other.dob == p.dob
                and other.family_keys & p.family_keys
            ):
                return ""
        born = self.context.born.get((p.role, p.dob, p.family_key), set())
        if born - {mine}:
            return ""
        return (
            f"forename {typo!r} is one slip from {name!r}, which others bear, and nobody else "
            "shares the surname and date of birth: a slip, not a twin or sibling"
        )

    def garbled(self, p: Prepared, c: Prepared, vector: Vector) -> str:
        """Words saying why the record's forename is a corrupted value rather than a
        twin's name, or "". Only a twin's pattern more than one slip apart (the same
        surname exactly, the same date of birth) where all of these hold:

        - the record's spelling is nobody's name: nobody else bears it, on either side;
          it is no listed short form; and it is not one slip from a name somebody
          bears ("Juke" is one slip from "Luke": a slip of another name is evidence of
          another child, as in `only_a_slip`);
        - the candidate's forename is a name somebody else bears;
        - everything else agrees: the home (address, postcode, or the same number in
          nearly the same street) or a phone, an email or a contact, and no gender,
          middle names or UPN that differ;
        - nobody else shares the surname and date of birth (among the candidates or the
          incoming records), nor the surname and home address or postcode among the
          candidates (counted by the candidate side; where it is not, as in the planner, whose
          snapshot counts names only, the rule does not apply).

        The forename then weighs nothing either way: the rest must carry the link."""
        if (
            vector[cmp.I_FAMILY] != cmp.F_EXACT
            or vector[cmp.I_DOB] != cmp.D_EXACT
            or vector[cmp.I_GIVEN] not in (cmp.G_SIMILAR, cmp.G_DIFFERENT)
            or vector[cmp.I_GENDER] == cmp.DIFFERENT2
            or vector[cmp.I_MIDDLE] == cmp.M_DIFFERENT
            or vector[cmp.I_UPN] == cmp.U_DIFFERENT
            or p.dob is None
            or not self.index.frequencies.homes_counted  # who else lives there is unknown
        ):
            return ""
        together = (
            vector[cmp.I_HOME] in (cmp.H_ADDRESS, cmp.H_POSTCODE, cmp.H_NEAR)
            or cmp.AGREE in (vector[cmp.I_PHONE], vector[cmp.I_EMAIL], vector[cmp.I_CHILDREN])
            or bool(p.subject.household & c.subject.household)
        )
        mine, theirs = p.given_first, c.given_first
        if not together or not mine or self.bears(mine) > 1 or self.bears(theirs) < 2:
            return ""
        if name_families(mine) or self.near_a_name(mine):
            return ""
        homes = self.index.frequencies.homes
        role, theirs_homes = p.role or "", home_keys(c)
        for home in home_keys(p):
            if homes[(role, p.family_key, home)] - (home in theirs_homes) > 0:
                return ""  # another child of that surname lives there
        for j in self.block:
            other = self.index.prepared[j]
            if other.id == c.id or other.role != p.role or not (other.family_keys & p.family_keys):
                continue
            if other.dob == p.dob or other.addresses & p.addresses:
                return ""
        if self.context.born.get((p.role, p.dob, p.family_key), set()) - {mine}:
            return ""
        return (
            f"forename {mine!r} is nobody's name and not one slip from one, where the surname, "
            "date of birth and home agree and nobody else shares them: a corrupted value, "
            "counted as missing"
        )

    def near_a_name(self, spelling: str) -> bool:
        """Whether some forename borne by somebody (either side) is one keying slip
        from this spelling."""
        return self.context.near_a_name(spelling, self.index.frequencies.forenames)


# How many agreements' worth the model's u counts for when a candidate side measures its
# own chance that two random candidates agree (`MatchEngine._tf_u`): for a date of birth
# (model u 1/1,500) 45,000 pairs, about 300 candidates; a side of thousands outweighs it.
U_SIDE_PRIOR_AGREEMENTS = 30

# A spelling others bear is still a slip when the same slip recurs rarely beside a
# name many bear ("Racehl" twice where "Rachel" is 27 people's): at most
# `SLIP_MAX_OTHERS` others, and the name borne by `SLIP_RATIO` times as many.
SLIP_MAX_OTHERS = 2
SLIP_RATIO = 5


def _rare_beside(spelling: int, name: int) -> bool:
    """A spelling borne by `spelling` others is a slip of a name borne by `name` others:
    nobody else bears it and somebody bears the name, or it recurs rarely where the name
    is common (`SLIP_MAX_OTHERS`, `SLIP_RATIO`)."""
    if spelling == 0:
        return name > 0
    return spelling <= SLIP_MAX_OTHERS and name >= SLIP_RATIO * (spelling + 1)


def _beaten(best: _Pair, other: _Pair, margin: float) -> bool:
    """`other` is far enough below `best`: by the margin, or, when it lies in a further
    tier (a local school vs this school), by not being stronger at all."""
    if other.tier > best.tier:
        return other.weight <= best.weight
    return other.weight <= best.weight - margin


def _settle_conflicts(prepared: Sequence[Prepared], decisions: list[Decision]) -> list[Decision]:
    """No candidate is linked to two records: a UPN beats the weights, then the higher
    score, then the record ID; the other record is asked about instead."""
    holders: dict[Hashable, int] = {}
    for i, d in enumerate(decisions):
        if d.outcome is not Outcome.LINK:
            continue
        j = holders.get(d.target)
        if j is None:
            holders[d.target] = i
            continue
        if _rank(decisions[i], prepared[i]) < _rank(decisions[j], prepared[j]):
            holders[d.target] = i
    out = list(decisions)
    for i, d in enumerate(decisions):
        if d.outcome is Outcome.LINK and holders[d.target] != i:
            holder = prepared[holders[d.target]]
            out[i] = Decision(
                Outcome.CANDIDATES,
                None,
                None,
                d.score,
                d.candidates,
                f"the best match is also the best match of {holder.id!r}, which is surer",
                taken_by=holder.id,
            )
    return out


def _rank(d: Decision, p: Prepared) -> tuple[int, float, str]:
    return (0 if d.evidence is Evidence.UPN else 1, -d.candidates[0].weight, _id_key(p.id))


def _id_key(value: Hashable) -> str:
    return repr(value)


def _shown(name: str, p: Prepared) -> str:
    s = p.subject
    if name == "given":
        return s.given + (f" ({s.preferred_given})" if s.preferred_given else "")
    if name == "family":
        return s.family + (f" ({s.preferred_family})" if s.preferred_family else "")
    if name == "dob":
        return s.dob.isoformat() if s.dob else ""
    if name == "gender":
        return p.gender or ""
    if name == "upn":
        return p.upn or ""
    if name == "home":
        return " / ".join(sorted(s.postcodes) or sorted(s.addresses))
    if name == "email":
        return ", ".join(sorted(p.emails))
    if name == "phone":
        return ", ".join(sorted(p.phones))
    if name == "middle":
        return s.middle or ""
    return f"{len(s.children)} linked"
