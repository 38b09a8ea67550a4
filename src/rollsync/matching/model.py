"""The Fellegi-Sunter model: how much each comparison level counts.

For every comparison level the model holds

- m: the probability of that level when the two records are the same person;
- u: the probability of that level when they are two different people.

A level's match weight is log2(m / u) bits: agreement on a rare date of birth is
worth many bits, disagreement on a surname costs some, a missing value nothing.
A pair's weight is the sum over its comparisons plus the prior (the log-odds that
two records taken at random are the same person); its probability is
1 / (1 + 2^-weight).

Nothing here is hand-set: `estimate.estimate_model` estimates u from random pairs
(and, per run, from the candidate side's value frequencies: a common surname
agrees by chance more often than a rare one) and m by expectation maximisation
over the blocked pairs, started from the pairs a national ID or an exact name and
date of birth already tie together. `default_model()` is the model the
planner uses: estimated that way on the project's simulated local authority and
shipped as `default_model.json`, with how it was made.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from rollsync.matching.compare import COMPARISONS, NO_WEIGHT_WHEN_DIFFERENT, NULL, Vector

_SILENT = {
    n: len(c.levels) - 1 for n, c in enumerate(COMPARISONS) if c.name in NO_WEIGHT_WHEN_DIFFERENT
}

# Levels whose u is refined per value from the candidate side (term frequencies):
# "the same surname" means less for Smith than for Ó Briain.
TF_LEVELS: dict[str, int] = {"given": 0, "family": 0, "dob": 0}

# Probabilities never reach 0 or 1: a level never seen in training still counts finitely.
FLOOR = 1e-6


def bits(probability: float) -> float:
    """Log-odds in bits of a probability."""
    p = min(max(probability, 1e-15), 1 - 1e-15)
    return math.log2(p / (1 - p))


def probability(weight_bits: float) -> float:
    if weight_bits > 60:
        return 1.0
    if weight_bits < -60:
        return 0.0
    return 1.0 / (1.0 + math.pow(2.0, -weight_bits))


@dataclass(frozen=True, slots=True)
class Model:
    """m and u per comparison level, in `compare.COMPARISONS` order.

    `match_share`: the share of incoming records expected to have a match on the other
    side; the prior of one pair is `match_share / candidates` (one true match among
    the candidates). `tf_strength`: how many candidates' worth of weight the model's
    own u keeps when value frequencies refine it (smoothing for small candidate sets).
    """

    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    match_share: float = 0.5
    tf_strength: float = 200.0
    about: Mapping[str, Any] = field(default_factory=dict)
    _weights: tuple[tuple[float, ...], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if len(self.m) != len(COMPARISONS) or len(self.u) != len(COMPARISONS):
            raise ValueError("a model has m and u for every comparison")
        for comparison, m, u in zip(COMPARISONS, self.m, self.u, strict=True):
            if len(m) != len(comparison.levels) or len(u) != len(comparison.levels):
                raise ValueError(f"{comparison.name}: one m and one u per level")
        table = tuple(
            tuple(
                0.0 if _SILENT.get(n) == level else math.log2(max(m, FLOOR) / max(u, FLOOR))
                for level, (m, u) in enumerate(zip(ms, us, strict=True))
            )
            for n, (ms, us) in enumerate(zip(self.m, self.u, strict=True))
        )
        object.__setattr__(self, "_weights", table)

    def weight(self, comparison: int, level: int, u: float | None = None) -> float:
        """Bits for one comparison level; `u` overrides the model's (a term frequency)."""
        if level == NULL:
            return 0.0
        if u is None:
            return self._weights[comparison][level]
        if _SILENT.get(comparison) == level:
            return 0.0
        return math.log2(max(self.m[comparison][level], FLOOR) / max(u, FLOOR))

    def weights(self, vector: Vector) -> tuple[float, ...]:
        return tuple(self.weight(c, level) for c, level in enumerate(vector))

    def prior_bits(self, candidates: int) -> float:
        """Log-odds that one incoming record and one candidate are the same person."""
        return bits(self.match_share / max(candidates + self.tf_strength, 1.0))

    # -- persistence ---------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "about": dict(self.about),
            "match_share": self.match_share,
            "tf_strength": self.tf_strength,
            "comparisons": {
                c.name: {
                    level: {"m": round(m, 8), "u": round(u, 8)}
                    for level, m, u in zip(c.levels, ms, us, strict=True)
                }
                for c, ms, us in zip(COMPARISONS, self.m, self.u, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        ms, us = [], []
        for c in COMPARISONS:
            levels = data["comparisons"][c.name]
            ms.append(tuple(float(levels[code]["m"]) for code in c.levels))
            us.append(tuple(float(levels[code]["u"]) for code in c.levels))
        return cls(
            m=tuple(ms),
            u=tuple(us),
            match_share=float(data.get("match_share", 0.5)),
            tf_strength=float(data.get("tf_strength", 200.0)),
            about=dict(data.get("about", {})),
        )

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def uniform_model() -> Model:
    """A model that knows nothing: every level equally likely for matches and non-matches
    except that agreement is likelier for matches. Only a starting point for estimation."""
    ms, us = [], []
    for c in COMPARISONS:
        n = len(c.levels)
        m = [0.5 / (n - 1)] * n
        m[0] = 0.5
        u = [0.5 / (n - 1)] * n
        u[-1] = 0.5
        ms.append(tuple(m))
        us.append(tuple(u))
    return Model(m=tuple(ms), u=tuple(us), about={"source": "uniform start"})


@lru_cache(maxsize=1)
def default_model() -> Model:
    """The shipped model (see the module docstring; `python -m bench.matching_eval --train`
    makes it again)."""
    text = resources.files("rollsync.matching").joinpath("default_model.json").read_text("utf-8")
    return Model.from_dict(json.loads(text))
