"""The identity matching engine: pure Python, no Django.

    from rollsync.matching import MatchEngine, Subject

    engine = MatchEngine()                       # the shipped Fellegi-Sunter model
    decisions = engine.decide(incoming, candidates)

One `Decision` per incoming subject: LINK (to one candidate), CANDIDATES (ranked,
for a person to decide) or NEW, each with a score and an explanation of what
agreed and what did not, field by field. See docs/matching.md.

Modules: `normalise` (UK names, dates, postcodes), `nicknames`, `subject`
(what is compared), `compare` (comparison levels), `blocking` (which pairs are
compared), `model` (m and u, weights), `estimate` (m and u from the data: random
pairs and EM), `engine` (guards and decisions), `records` (subjects from canonical
records), `link_cli` (`rollsync link`).
"""

from rollsync.matching.blocking import CandidateIndex
from rollsync.matching.engine import (
    FREE,
    Decision,
    Evidence,
    FieldResult,
    MatchEngine,
    Outcome,
    Restriction,
    Scored,
    Thresholds,
)
from rollsync.matching.estimate import Estimation, estimate_model
from rollsync.matching.model import Model, default_model
from rollsync.matching.records import subject_from_record
from rollsync.matching.subject import Prepared, Subject, prepare

__all__ = [
    "FREE",
    "CandidateIndex",
    "Decision",
    "Estimation",
    "Evidence",
    "FieldResult",
    "MatchEngine",
    "Model",
    "Outcome",
    "Prepared",
    "Restriction",
    "Scored",
    "Subject",
    "Thresholds",
    "default_model",
    "estimate_model",
    "prepare",
    "subject_from_record",
]
