"""Blocking: which candidates an incoming record is compared with at all.

Every candidate is filed under a few keys; an incoming record is compared only
with the candidates that share one of its keys, so the work grows with the
number of plausible pairs, not with the product of the two sides. Keys (each
within a role when roles are given):

- `u:` the UPN (a national ID);
- `d:` the date of birth; an incoming record also looks under its date with day
  and month swapped;
- `n:` phonetic keys of forename and surname (Metaphone), legal and preferred,
  and, for an incoming record, the two the other way round (swapped names): a
  mistyped date of birth still meets its person here;
- `p:` postcode with the forename's phonetic key, where a postcode is given;
- `s:` the surname's phonetic key with two of the year, month and day of birth: an
  incoming record meets every candidate of its surname born one keying slip away
  (`normalise.one_slip_dates`), so a mistyped date of birth meets its person even
  under a name too common for the `n:` keys;
- `e:` / `t:` an email address or phone number (contacts and staff carry these);
- `c:` a linked pupil (contacts).

A key shared by more than `MAX_BUCKET` candidates (a region-wide "Mohammed Khan")
is skipped for the names and postcodes, never for a UPN or a date of birth.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from datetime import date
from functools import lru_cache

from rollsync.matching.normalise import (
    given_tokens,
    name_key,
    one_slip_dates,
    phonetic,
    surname_core,
    swapped_day_month,
)
from rollsync.matching.subject import Prepared, Subject, prepare

MAX_BUCKET = 500
_ALWAYS = ("u:", "d:")


def _role(p: Prepared) -> str:
    return (p.role or "") + "|"


def _sounds(
    given: str | None, preferred_given: str | None, family: str | None, preferred: str | None
) -> tuple[set[str], set[str]]:
    givens = {phonetic(w) for w in (*given_tokens(given), *given_tokens(preferred_given))}
    givens.discard("")
    return givens, family_sounds(family, preferred)


def family_sounds(family: str | None, preferred: str | None) -> set[str]:
    """The surname halves of the `n:` keys (`name_keys`): a caller can rule a candidate
    out of a few wanted keys by its surnames alone, before making all its keys."""
    core = "".join(surname_core(family))
    families = {phonetic(core)} if core else set()
    families |= {phonetic(k) for k in (name_key(family), name_key(preferred)) if k}
    families.discard("")
    return families


@lru_cache(maxsize=131_072)
def _name_keys(
    role: str | None,
    given: str | None,
    family: str | None,
    preferred_given: str | None,
    preferred_family: str | None,
) -> frozenset[str]:
    prefix = (role or "") + "|"
    givens, families = _sounds(given, preferred_given, family, preferred_family)
    return frozenset(f"{prefix}n:{g}|{f}" for g in givens for f in families)


def name_keys(
    role: str | None,
    given: str | None,
    family: str | None,
    preferred_given: str | None = None,
    preferred_family: str | None = None,
) -> set[str]:
    """The `n:` keys of a name (phonetic forename x phonetic surname), as a candidate is
    filed under them: for look-ups built without preparing every candidate."""
    return set(_name_keys(role, given, family, preferred_given, preferred_family))


def candidate_keys(p: Prepared) -> set[str]:
    role = _role(p)
    s = p.subject
    keys = name_keys(p.role, s.given, s.family, s.preferred_given, s.preferred_family)
    if p.upn:
        keys.add(f"{role}u:{p.upn}")
    if p.dob is not None:
        keys.add(f"{role}d:{p.dob.isoformat()}")
    givens, _ = _sounds(s.given, s.preferred_given, None, None)
    for g in givens:
        for pc in p.postcodes:
            keys.add(f"{role}p:{pc}|{g}")
    keys.update(f"{role}e:{e}" for e in p.emails)
    keys.update(f"{role}t:{t}" for t in p.phones)
    keys.update(f"{role}c:{c}" for c in p.subject.children)
    return keys


def incoming_keys(p: Prepared) -> set[str]:
    keys = candidate_keys(p)
    role = _role(p)
    if p.dob is not None:
        swapped = swapped_day_month(p.dob)
        if swapped is not None:
            keys.add(f"{role}d:{swapped.isoformat()}")
    swapped_names = _swapped_name_key(p)
    if swapped_names is not None:
        keys.add(swapped_names)
    return keys


def _swapped_name_key(p: Prepared) -> str | None:
    """The `n:` key of the names the other way round."""
    if p.given_first and p.family_key:
        return f"{_role(p)}n:{phonetic(p.family_key)}|{phonetic(p.given_first)}"
    return None


def incoming_name_keys(p: Prepared) -> set[str]:
    """The `n:` keys of `incoming_keys`, made alone (a first import looks up every
    record by its names: the other keys were made for each and thrown away): a
    candidate's, and the names the other way round."""
    s = p.subject
    keys = name_keys(p.role, s.given, s.family, s.preferred_given, s.preferred_family)
    swapped_names = _swapped_name_key(p)
    if swapped_names is not None:
        keys.add(swapped_names)
    return keys


def _near_keys(
    role: str | None, sound: str, dob: date
) -> tuple[tuple[str | None, str, int, int, int], ...]:
    """Where dates one keying slip apart meet: they share two of year, month and day."""
    return (
        (role, sound, 0, dob.year, dob.month),
        (role, sound, 1, dob.year, dob.day),
        (role, sound, 2, dob.month, dob.day),
    )


def home_keys(p: Prepared) -> frozenset[str]:
    """Where a candidate lives, for counting who else of a surname lives there: each
    address, and each postcode (a UK postcode is a street or two)."""
    return p.addresses | {f"postcode:{x}" for x in p.postcodes}


class Frequencies:
    """How often each forename, surname and date of birth occurs on the candidate side,
    per role: the term frequencies that refine u. `forenames` counts first given names
    over every role: whether a spelling is a name someone bears (the twins' guard).
    Per role and field it also counts the candidates that hold a value and the pairs of
    them that agree: the chance that two random candidates agree (`agreement`)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[tuple[str, object]]] = defaultdict(Counter)
        self.sizes: Counter[str] = Counter()
        self.forenames: Counter[str] = Counter()
        self.held: Counter[tuple[str, str]] = Counter()
        self.agreeing: Counter[tuple[str, str]] = Counter()
        # (role, surname key, address key): who lives where under which surname, for
        # `MatchEngine`'s corrupted-forename rule. Counted only when `homes_counted`
        # (the planner's snapshot counts names, not homes: the rule then never applies).
        self.homes: Counter[tuple[str, str, str]] = Counter()
        self.homes_counted = False

    def add(
        self,
        role: str | None,
        given: str,
        family: str,
        dob: date | None,
        first: str = "",
        homes: Iterable[str] | None = None,
    ) -> None:
        """Count one candidate (`given`, `family`, `first`, `homes`: keys as `Prepared`
        holds them, `home_keys` for the homes; `homes` None when they are not counted)."""
        key = role or ""
        self.sizes[key] += 1
        if first:
            self.forenames[first] += 1
        if homes is not None and family:
            self.homes_counted = True
            for home in homes:
                self.homes[(key, family, home)] += 1
        counts = self.counts[key]
        for field, value in (("given", given), ("family", family), ("dob", dob)):
            if value:
                # The new candidate agrees with each earlier one holding this value.
                self.agreeing[(key, field)] += counts[(field, value)]
                self.held[(key, field)] += 1
                counts[(field, value)] += 1

    def add_all(self, rows: Iterable[tuple[str | None, str, str, date | None, str]]) -> None:
        """`add` for each (role, given, family, dob, first) row, homes not counted, in
        bulk: the same counts, tallied per distinct value rather than per candidate (the
        planner counts every account of the snapshot)."""
        rows = list(rows)
        self.sizes.update(role or "" for role, *_ in rows)
        self.forenames.update(row[4] for row in rows if row[4])
        for field, at in (("given", 1), ("family", 2), ("dob", 3)):
            tally = Counter((row[0] or "", row[at]) for row in rows if row[at])
            for (key, value), n in tally.items():
                counts = self.counts[key]
                before = counts[(field, value)]
                # Each of the n agrees with the `before` counted earlier and with the
                # ones of the n before it.
                self.agreeing[(key, field)] += n * before + n * (n - 1) // 2
                self.held[(key, field)] += n
                counts[(field, value)] = before + n

    def agreement(self, role: str | None, field: str) -> tuple[int, int]:
        """(pairs of candidates of the role that agree on this field, pairs that hold it)."""
        key = (role or "", field)
        held = self.held[key]
        return self.agreeing[key], held * (held - 1) // 2


class CandidateIndex:
    """The candidate side, prepared once: comparison keys, blocking buckets and the
    value frequencies that refine u (term frequencies), per role.

    `frequencies`, when given, were counted over a larger population than the
    candidates indexed here (the planner indexes only the accounts its look-ups
    found, but counts names over the whole snapshot)."""

    def __init__(
        self,
        candidates: Iterable[Subject | Prepared],
        *,
        frequencies: Frequencies | None = None,
        keyed: bool = True,
    ) -> None:
        self.prepared: list[Prepared] = [
            c if isinstance(c, Prepared) else prepare(c) for c in candidates
        ]
        self.keyed = keyed  # False: the caller blocks (`MatchEngine.decide(blocks=...)`)
        self.position: dict[Hashable, int] = {}
        self._buckets: dict[str, list[int]] = defaultdict(list)
        # The `s:` keys: surname sound with two of year, month and day (one keying slip
        # changes one of them; a day and month swap is found under `d:`).
        self._born: dict[tuple[str | None, str, int, int, int], list[int]] = defaultdict(list)
        own = frequencies is None
        self.frequencies = frequencies or Frequencies()
        for n, p in enumerate(self.prepared):
            if p.id in self.position:
                raise ValueError(f"candidate {p.id!r} is given twice")
            self.position[p.id] = n
            if keyed:
                for key in candidate_keys(p):
                    self._buckets[key].append(n)
                if p.dob is not None and p.family_sound:
                    for near in _near_keys(p.role, p.family_sound, p.dob):
                        self._born[near].append(n)
            if own:
                self.frequencies.add(
                    p.role, p.given_key, p.family_key, p.dob, p.given_first, home_keys(p)
                )

    def __len__(self) -> int:
        return len(self.prepared)

    def block(self, p: Prepared) -> list[int]:
        """Positions of the candidates that share a blocking key with `p`, in order."""
        found: set[int] = set()
        for key in incoming_keys(p):
            bucket = self._buckets.get(key)
            if not bucket:
                continue
            if len(bucket) > MAX_BUCKET and not key.split("|", 1)[1].startswith(_ALWAYS):
                continue
            found.update(bucket)
        if p.dob is not None and p.family_sound and self._born:
            for near in _near_keys(p.role, p.family_sound, p.dob):
                for j in self._born.get(near, ()):
                    other = self.prepared[j].dob
                    if other is not None and one_slip_dates(p.dob, other):
                        found.add(j)
        return sorted(found)

    def frequency(self, role: str | None, field: str, value: str | date) -> tuple[int, int]:
        """(how many candidates of the role hold this value, how many there are)."""
        key = role or ""
        return self.frequencies.counts[key][(field, value)], self.frequencies.sizes[key]

    def size(self, role: str | None) -> int:
        return self.frequencies.sizes[role or ""]


def blocked_pairs(incoming: Sequence[Prepared], index: CandidateIndex) -> list[tuple[int, int]]:
    """Every (incoming position, candidate position) that blocking lets through."""
    return [(i, j) for i, p in enumerate(incoming) for j in index.block(p)]
