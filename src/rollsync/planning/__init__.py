"""The pure sync planner: matching + lifecycle + guard, with no web or database code.

    plan(batch, state, policy) -> Plan

`plan` is a pure function of an `ImportBatch` (canonical records), a
`DirectoryState` snapshot and a `SchoolPolicy`. Modules:

- `matching`: the `Matcher` protocol and its decisions;
- `engine_matcher`: `EngineMatcher`, the one matcher in the product: MIS ID, a
  person's earlier decision, then the matching engine (`rollsync.matching`); the
  first, rule-based matcher is a yardstick in `bench/baseline_matcher.py`;
- `planner`: `plan`, the per-record lifecycle;
- `leavers`: who is gone, grace periods;
- `guard`: holds on runs that need a person's approval;
- `relations`: groups, contact links, attendance as set differences;
- `partial`: batches that leave out the people whose rows did not change, and
  `unsafe_unchanged`, the ones that must not be left out;
- `usernames`: patterns, candidates, reserved names;
- `replay`: `apply_to_state`, the planner's model of the apply step.
"""

from rollsync.planning.engine_matcher import EngineMatcher
from rollsync.planning.guard import find_holds
from rollsync.planning.index import StateIndex
from rollsync.planning.matching import (
    Candidates,
    Link,
    MatchDecision,
    Matcher,
    New,
    Via,
)
from rollsync.planning.partial import unsafe_unchanged
from rollsync.planning.planner import plan
from rollsync.planning.relations import NEW_ACCOUNT
from rollsync.planning.replay import apply_to_state
from rollsync.planning.usernames import (
    DEFAULT_PATTERN,
    RESERVED_LOCAL_PARTS,
    InvalidPattern,
    username_base,
    username_candidates,
    usernames_from_base,
)

__all__ = [
    "DEFAULT_PATTERN",
    "NEW_ACCOUNT",
    "RESERVED_LOCAL_PARTS",
    "Candidates",
    "EngineMatcher",
    "InvalidPattern",
    "Link",
    "MatchDecision",
    "Matcher",
    "New",
    "StateIndex",
    "Via",
    "apply_to_state",
    "find_holds",
    "plan",
    "unsafe_unchanged",
    "username_base",
    "username_candidates",
    "usernames_from_base",
]
