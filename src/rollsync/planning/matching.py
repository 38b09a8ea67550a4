"""Matching: which existing account, if any, an incoming record is.

The planner depends only on the `Matcher` protocol, and the product has one
implementation of it: `engine_matcher.EngineMatcher` (the matching engine,
`rollsync.matching`), the planner's default. The first, rule-based matcher is only a
yardstick now: `bench/baseline_matcher.py` (`python -m bench.matching_eval --baseline`
replays it beside the engine). A matcher answers, per record, one of:

- `Link`: surely this account (and, if it has one here, this allocation);
- `Candidates`: it may be one of these accounts; a person decides;
- `New`: no account is this person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from rollsync.domain.actions import Candidate
from rollsync.domain.quick import quick_init
from rollsync.domain.records import PersonRecord
from rollsync.domain.state import DirectoryState


class Via(StrEnum):
    """How a link was found (short codes for reports and audit)."""

    MIS_ID = "mis_id"
    UPN = "upn"
    NAME_DOB = "name_dob"
    REQUEST_SINGLE = "request_single"
    CONTACT_DETAILS = "contact_details"
    EVIDENCE = "evidence"  # the matching engine's score (rollsync.matching)
    RESOLVED = "resolved"  # a person decided this record on a needs-matching case


# When two records link to one account, the stronger evidence keeps it.
VIA_STRENGTH: dict[str, int] = {
    Via.MIS_ID: 0,
    Via.RESOLVED: 0,
    Via.UPN: 1,
    Via.NAME_DOB: 2,
    Via.REQUEST_SINGLE: 2,
    Via.CONTACT_DETAILS: 2,
    Via.EVIDENCE: 2,
}
WEAKEST = max(VIA_STRENGTH.values()) + 1


@quick_init
@dataclass(frozen=True, slots=True)
class Link:
    """The record is this account. `allocation_id` is its allocation at this school
    to reuse, or None when the account is not here yet (a move)."""

    account_id: int
    allocation_id: int | None
    via: str
    explanation: str


@quick_init
@dataclass(frozen=True, slots=True)
class Candidates:
    """The record may be one of these accounts (best first); a person decides."""

    candidates: tuple[Candidate, ...]
    explanation: str


@quick_init
@dataclass(frozen=True, slots=True)
class New:
    explanation: str


MatchDecision = Link | Candidates | New


class Matcher(Protocol):
    def match(self, records: Sequence[PersonRecord], state: DirectoryState) -> list[MatchDecision]:
        """One decision per record, in the order given. Role must agree: a record is
        never linked to an account of another role."""
        ...


def already_taken(link: Link, holder_mis_id: str) -> Candidates:
    """A link to an account another record of the same upload already has."""
    return Candidates(
        (
            Candidate(
                link.account_id,
                1.0,
                f"Already matched to MIS ID {holder_mis_id} in this upload",
            ),
        ),
        f"{link.explanation}, but that account is already matched to MIS ID "
        f"{holder_mis_id} in this upload",
    )
