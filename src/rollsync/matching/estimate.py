"""Estimating m and u from the data itself (no labels), as Splink does.

1. u from random pairs: pairs drawn at random from the two sides are almost all
   two different people, so the share of each level among them is u.
2. m by expectation maximisation over the blocked pairs, started from the pairs
   that a UPN or an exact legal name and date of birth already tie together (the
   deterministic-agreement pairs) for the fields those rules do not use. EM
   alternates: how likely is each pair a match given m and u (E), and what m
   makes those likelihoods most probable (M). u stays as sampled.
3. The share of incoming records that have a match: the expected number of
   matches EM finds, over the incoming side.

A starting model (`start`) holds m for levels the data shows too rarely: every
estimate is a blend of what the data says and `prior_strength` pairs' worth of the
start (a Dirichlet prior), so a level seen twice does not get m = 1.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rollsync.matching import compare as cmp
from rollsync.matching.blocking import CandidateIndex, blocked_pairs
from rollsync.matching.compare import COMPARISONS, NULL, Vector
from rollsync.matching.model import FLOOR, Model, uniform_model
from rollsync.matching.subject import Prepared, Subject, prepare

# The deterministic rules' fields: their m is not taken from the pairs the rules chose.
_RULE_FIELDS = frozenset({cmp.I_GIVEN, cmp.I_FAMILY, cmp.I_DOB, cmp.I_UPN})


@dataclass(frozen=True, slots=True)
class Estimation:
    model: Model
    blocked_pairs: int
    distinct_vectors: int
    random_pairs: int
    deterministic_pairs: int
    iterations: int


def deterministic(vector: Vector) -> bool:
    """A pair a national ID or an exact legal name and date of birth tie together."""
    return vector[cmp.I_UPN] == cmp.U_EXACT or (
        vector[cmp.I_GIVEN] == cmp.G_EXACT
        and vector[cmp.I_FAMILY] == cmp.F_EXACT
        and vector[cmp.I_DOB] == cmp.D_EXACT
    )


# EM sessions, as Splink trains: each looks only at the pairs that agree on its rule's
# fields, and estimates m for every other comparison. Pairs that share a date of birth
# are mostly one person or two strangers, rarely siblings (who would teach EM that a
# shared address means "the same person"); pairs that share a full legal name tell
# how often one person's date of birth is mistyped.
SESSIONS: tuple[tuple[str, frozenset[int]], ...] = (
    ("same date of birth", frozenset({cmp.I_DOB})),
    ("same legal forename and surname", frozenset({cmp.I_GIVEN, cmp.I_FAMILY})),
)


def _in_session(vector: Vector, rule: frozenset[int]) -> bool:
    return all(vector[n] == 0 for n in rule)  # level 0: the exact agreement


def estimate_model(
    left: Sequence[Subject | Prepared],
    right: Sequence[Subject | Prepared],
    *,
    start: Model | None = None,
    random_pairs: int = 20_000,
    seed: int = 0,
    prior_strength: float = 20.0,
    u_prior_strength: float = 1000.0,
    max_iterations: int = 40,
    tolerance: float = 1e-5,
    about: dict[str, object] | None = None,
    index: CandidateIndex | None = None,
) -> Estimation:
    """Estimate a model from two sides (incoming records, candidates); see the module.

    `prior_strength` and `u_prior_strength`: how many pairs' worth of `start`'s m and u
    each estimate keeps (pass small values when `start` knows nothing). `index`: the
    right side already indexed (it is then reused to decide)."""
    start = start or uniform_model()
    a = [x if isinstance(x, Prepared) else prepare(x) for x in left]
    index = index if index is not None else CandidateIndex(right)
    u = _u_from_random_pairs(a, index.prepared, start, random_pairs, seed, u_prior_strength)
    vectors: Counter[Vector] = Counter()
    matched_left: set[int] = set()
    per_left: dict[int, set[Vector]] = defaultdict(set)
    for i, j in blocked_pairs(a, index):
        if a[i].role == index.prepared[j].role:
            v = cmp.compare(a[i], index.prepared[j])
            vectors[v] += 1
            per_left[i].add(v)
            if deterministic(v):
                matched_left.add(i)
    sure = Counter({v: n for v, n in vectors.items() if deterministic(v)})
    m_start = _m_start(sure, start, prior_strength)
    estimates: list[list[list[float] | None]] = []
    iterations = 0
    for _, rule in SESSIONS:
        session = sorted((v, n) for v, n in vectors.items() if _in_session(v, rule))
        m, used = _em(session, rule, m_start, u, start, prior_strength, max_iterations, tolerance)
        iterations += used
        estimates.append([None if n in rule else row for n, row in enumerate(m)])
    m_final: list[list[float]] = []
    for n in range(len(COMPARISONS)):
        rows = [row for e in estimates if (row := e[n]) is not None]
        m_final.append(
            [sum(r[lvl] for r in rows) / len(rows) for lvl in range(len(rows[0]))]
            if rows
            else m_start[n]
        )
    # Deterministic rules find some of the matches (a floor); the model finds the rest.
    floor = len(matched_left) / len(a) if a else 0.5
    match_share = _match_share(
        per_left, m_final, u, len(a), len(index.prepared) + start.tf_strength, floor
    )
    total = sum(vectors.values())
    info: dict[str, object] = {
        "method": "u from random pairs; m by EM over blocked pairs in sessions "
        + " and ".join(f"'{name}'" for name, _ in SESSIONS)
        + " (no labels)",
        "incoming": len(a),
        "candidates": len(index.prepared),
        "blocked_pairs": total,
        "random_pairs": random_pairs,
        "deterministic_pairs": sum(sure.values()),
        "em_iterations": iterations,
        "seed": seed,
        **(about or {}),
    }
    model = Model(
        m=tuple(tuple(x) for x in m_final),
        u=tuple(tuple(x) for x in u),
        match_share=round(match_share, 6),
        tf_strength=start.tf_strength,
        about=info,
    )
    return Estimation(model, total, len(vectors), random_pairs, sum(sure.values()), iterations)


def _match_share(
    per_left: dict[int, set[Vector]],
    m: list[list[float]],
    u: list[list[float]],
    incoming: int,
    candidates: float,
    floor: float,
) -> float:
    """The share of incoming records that have a match, as the engine will weigh them:
    each record's best blocked pair, its probability under the estimated m and u with
    the prior `share / candidates` (the engine's), summed over the incoming side, until
    the share settles. Never below `floor` (the deterministic rules' share); within
    0.01-0.99. Only the deterministic share (too low when names are noisy: FEBRL's
    copies tie 34% of records by exact name and date of birth, where 80% have a
    partner) would make every prior, and so every link, too timid."""
    if not incoming:
        return 0.5
    # Each record's best pair, as log odds of the fields alone (the prior comes below).
    ratios = [max(_log_ratio(v, m, u) for v in vs) for vs in per_left.values()]
    share = max(floor, 0.01)
    for _ in range(50):
        prior = math.log(share / candidates) - math.log(1 - share / candidates)
        expected = sum(1.0 / (1.0 + math.exp(-min(max(prior + r, -40), 40))) for r in ratios)
        new = min(max(expected / incoming, floor, 0.01), 0.99)
        if abs(new - share) < 1e-6:
            break
        share = new
    return share


def _em(
    session: list[tuple[Vector, int]],
    rule: frozenset[int],
    m: list[list[float]],
    u: list[list[float]],
    start: Model,
    strength: float,
    max_iterations: int,
    tolerance: float,
) -> tuple[list[list[float]], int]:
    total = sum(n for _, n in session)
    if not total:
        return m, 0
    sure = sum(n for v, n in session if deterministic(v))
    share = min(max(sure / total, 0.01), 0.99)
    used = 0
    for used in range(1, max_iterations + 1):  # noqa: B007 - returned
        # The rule's fields agree in every pair of the session: they say nothing here.
        posteriors = [(v, n, _posterior(v, m, u, share, rule)) for v, n in session]
        new_m = _m_step(posteriors, start, strength)
        share = min(max(sum(n * p for _, n, p in posteriors) / total, 1e-4), 1 - 1e-4)
        delta = max(
            abs(x - y)
            for old, new in zip(m, new_m, strict=True)
            for x, y in zip(old, new, strict=True)
        )
        m = new_m
        if delta < tolerance:
            break
    return m, used


def _u_from_random_pairs(
    left: list[Prepared],
    right: list[Prepared],
    start: Model,
    samples: int,
    seed: int,
    strength: float,
) -> list[list[float]]:
    """u from pairs of one role drawn at random (all of them, when there are fewer than
    `samples`), blended with `strength` pairs' worth of the start's u: two small files
    hold too few pairs, and too many true matches among them, to say much on their own."""
    counts = [[0] * len(c.levels) for c in COMPARISONS]
    by_role: dict[str | None, list[Prepared]] = defaultdict(list)
    for r in right:
        by_role[r.role].append(r)
    usable = [p for p in left if by_role.get(p.role)]
    every = sum(len(by_role[p.role]) for p in usable)
    if every <= samples:
        pairs: list[tuple[Prepared, Prepared]] = [(p, q) for p in usable for q in by_role[p.role]]
    else:
        rng = random.Random(f"rollsync.matching.u:{seed}")
        pairs = []
        for _ in range(samples):
            p = usable[rng.randrange(len(usable))]
            pool = by_role[p.role]
            pairs.append((p, pool[rng.randrange(len(pool))]))
    for p, q in pairs:
        for n, lvl in enumerate(cmp.compare(p, q)):
            if lvl != NULL:
                counts[n][lvl] += 1
    out = []
    for n, row in enumerate(counts):
        seen = sum(row)
        out.append(
            [
                max((k + strength * start.u[n][lvl]) / (seen + strength), FLOOR)
                for lvl, k in enumerate(row)
            ]
        )
    return out


def _m_start(sure: Counter[Vector], start: Model, strength: float) -> list[list[float]]:
    m = [list(row) for row in start.m]
    for n, comparison in enumerate(COMPARISONS):
        if n in _RULE_FIELDS:
            continue
        counts = [0.0] * len(comparison.levels)
        for v, k in sure.items():
            if v[n] != NULL:
                counts[v[n]] += k
        seen = sum(counts)
        m[n] = [
            (counts[lvl] + strength * start.m[n][lvl]) / (seen + strength)
            for lvl in range(len(comparison.levels))
        ]
    return m


def _log_ratio(
    v: Vector, m: list[list[float]], u: list[list[float]], skip: frozenset[int] = frozenset()
) -> float:
    """The natural log of m/u over a vector's levels (without a prior)."""
    return sum(
        math.log(max(m[n][lvl], FLOOR)) - math.log(max(u[n][lvl], FLOOR))
        for n, lvl in enumerate(v)
        if lvl != NULL and n not in skip
    )


def _posterior(
    v: Vector,
    m: list[list[float]],
    u: list[list[float]],
    share: float,
    skip: frozenset[int] = frozenset(),
) -> float:
    log_ratio = math.log(share) - math.log(1 - share) + _log_ratio(v, m, u, skip)
    if log_ratio > 40:
        return 1.0
    if log_ratio < -40:
        return 0.0
    return 1.0 / (1.0 + math.exp(-log_ratio))


def _m_step(
    posteriors: list[tuple[Vector, int, float]], start: Model, strength: float
) -> list[list[float]]:
    m = []
    for n, comparison in enumerate(COMPARISONS):
        counts = [0.0] * len(comparison.levels)
        for v, k, p in posteriors:
            if v[n] != NULL:
                counts[v[n]] += k * p
        seen = sum(counts)
        m.append(
            [
                max((counts[lvl] + strength * start.m[n][lvl]) / (seen + strength), FLOOR)
                for lvl in range(len(comparison.levels))
            ]
        )
    return m
