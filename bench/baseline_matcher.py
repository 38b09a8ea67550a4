"""The first, rule-based matcher, kept only as a yardstick for the matching engine
(`python -m bench.matching_eval --baseline`). The product matches with
`rollsync.planning.EngineMatcher`; nothing in src/ uses this.

`DeterministicMatcher` links only on evidence that is essentially never wrong, in this
order: MIS ID here, verified UPN, exact legal name and date of birth here then at a local
school, exact name plus email or phone (contacts, and staff, whose date of birth is
optional). Anything weaker becomes candidates. A wrong link gives one child another's
account, so when in doubt it asks.

Twins share a surname and a birthday: an account with the record's surname and date of
birth but another forename is never linked and not even offered as a candidate (the
record becomes a new account), unless the two forenames are one slip apart ("Jonathan" /
"Jonathon"), when a person is asked. An account another record of the same upload is
linked to is never a candidate either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rapidfuzz import fuzz

from rollsync.domain.actions import Candidate
from rollsync.domain.records import PersonRecord, Role
from rollsync.domain.state import AccountState, AllocationStatus, DirectoryState
from rollsync.matching.normalise import (
    email_key,
    full_name_key,
    name_tokens,
    phone_key,
    swapped_day_month,
)
from rollsync.planning.index import StateIndex, Where
from rollsync.planning.matching import Candidates, Link, MatchDecision, New, Via, already_taken
from rollsync.planning.ordering import record_order
from rollsync.planning.wording import ROLE_WORD, day

MAX_CANDIDATES = 5
DEFAULT_SIMILARITY = 85.0


def spoken_name(given: str | None, family: str | None) -> str:
    """A full name for fuzzy comparison: folded words separated by single spaces.
    Apostrophes vanish ("O'Neil" -> "oneil"); hyphens and other marks separate words
    ("Smith-Jones" -> "smith jones")."""
    return " ".join((*name_tokens(given), *name_tokens(family)))


class DeterministicMatcher:
    """Rule-based matching; see the module docstring for the order of the rules."""

    def __init__(self, *, similarity_threshold: float = DEFAULT_SIMILARITY) -> None:
        self.similarity_threshold = similarity_threshold

    def match(self, records: Sequence[PersonRecord], state: DirectoryState) -> list[MatchDecision]:
        return self.match_indexed(records, StateIndex(state))

    def match_indexed(
        self, records: Sequence[PersonRecord], index: StateIndex
    ) -> list[MatchDecision]:
        """`match` over an index the caller already built (the planner shares its own)."""
        return _MatchRun(records, index, self.similarity_threshold).decide()


Step = Callable[[PersonRecord], MatchDecision | None]


class _MatchRun:
    """One matching pass over a batch.

    Each rule runs over every record before the next, weaker rule starts, so an
    account taken by strong evidence (an MIS ID) is never handed to another
    record on weaker evidence (a name), whatever order the records came in.
    """

    def __init__(self, records: Sequence[PersonRecord], index: StateIndex, threshold: float):
        self.records = records
        self.index = index
        self.threshold = threshold
        self.keys_in_upload = {r.key for r in records}
        self.claimed_by: dict[int, PersonRecord] = {}  # account_id -> the record linked to it
        self.order = record_order(records)

    def decide(self) -> list[MatchDecision]:
        decisions: list[MatchDecision | None] = [None] * len(self.records)
        steps: tuple[Step, ...] = (
            self._by_mis_id,
            self._by_upn,
            self._by_exact_name,
            self._by_contact_details,
            self._near_misses,
        )
        for step in steps:
            for i in self.order:
                if decisions[i] is None:
                    found = step(self.records[i])
                    decisions[i] = None if found is None else self._claim(self.records[i], found)
        decided = [d for d in decisions if d is not None]
        assert len(decided) == len(decisions)  # the last rule always decides
        return decided

    def _claim(self, record: PersonRecord, decision: MatchDecision) -> MatchDecision:
        """Two records never take one account: the second is asked about instead."""
        if not isinstance(decision, Link):
            return decision
        holder = self.claimed_by.get(decision.account_id)
        if holder is None:
            self.claimed_by[decision.account_id] = record
            return decision
        return already_taken(decision, holder.mis_id)

    # -- rules, strongest first ---------------------------------------------------

    def _by_mis_id(self, record: PersonRecord) -> MatchDecision | None:
        allocation = self.index.here_by_key(record.role, record.mis_id)
        if allocation is None:
            return None
        return Link(
            allocation.account_id,
            allocation.allocation_id,
            Via.MIS_ID,
            f"Matched by MIS ID {record.mis_id} at this school",
        )

    def _by_upn(self, record: PersonRecord) -> MatchDecision | None:
        if record.role is not Role.PUPIL or not record.upn:
            return None
        upn = record.upn
        ids = self.index.accounts_with_upn(upn, Role.PUPIL)
        if not ids:
            return None
        if len(ids) > 1:
            return Candidates(
                tuple(
                    Candidate(i, 1.0, f"{_who(self.index.accounts[i])} has UPN {upn}") for i in ids
                ),
                f"UPN {upn} belongs to {len(ids)} accounts",
            )
        account = self.index.accounts[ids[0]]
        if not _plausibly_same(record, account):
            who = _who(account)
            return Candidates(
                (Candidate(account.account_id, 0.5, f"{who} has UPN {upn}"),),
                f"UPN {upn} belongs to {who}, whose name and date of birth both differ",
            )
        return self._link(record, account.account_id, Via.UPN, f"Matched by UPN {upn}")

    def _by_exact_name(self, record: PersonRecord) -> MatchDecision | None:
        if record.role is Role.CONTACT or record.date_of_birth is None:
            return None
        key = full_name_key(record.legal_given_name, record.legal_family_name)
        ids = self.index.accounts_with_name_dob(record.role, key, record.date_of_birth)
        by_where: dict[Where, list[int]] = {}
        for account_id in ids:
            by_where.setdefault(self.index.location(account_id, record.role).where, []).append(
                account_id
            )
        for where in (Where.HERE, Where.LOCAL):
            found = by_where.get(where, [])
            if len(found) > 1:
                return self._several(found, "have the same legal name and date of birth")
            if found and where is Where.HERE:
                return self._link_here(
                    record, found[0], Via.NAME_DOB, "the same legal name and date of birth"
                )
            if found:
                return self._link(
                    record, found[0], Via.NAME_DOB, "Matched by legal name and date of birth"
                )
        return None  # same name and birthday elsewhere in the region: only a near miss

    def _link_here(
        self, record: PersonRecord, account_id: int, via: Via, same: str
    ) -> MatchDecision:
        """A link by name (and more) to an account at this school, unless that account is
        plainly someone else's: it holds another MIS ID that is also in this upload."""
        allocation = self.index.allocation_here(account_id, record.role)
        assert allocation is not None  # location() said the account is here
        if not allocation.mis_id:
            if allocation.requested_single:
                return Link(
                    account_id,
                    allocation.allocation_id,
                    Via.REQUEST_SINGLE,
                    f"Matched by {same} to the account requested for this school by hand "
                    "(User Request Single)",
                )
            return Candidates(
                (Candidate(account_id, 1.0, f"A non-MIS account at this school with {same}"),),
                f"A non-MIS account at this school has {same}",
            )
        holds_other = (
            allocation.status is not AllocationStatus.UNALLOCATED
            and (record.role, allocation.mis_id) in self.keys_in_upload
        )
        if holds_other:
            # Its own MIS ID is in this upload too: two MIS records, maybe two people.
            return Candidates(
                (
                    Candidate(
                        account_id,
                        1.0,
                        f"Has {same}, but belongs to MIS ID {allocation.mis_id}, "
                        "which is also in this upload",
                    ),
                ),
                f"An account at this school has {same} but belongs to MIS ID "
                f"{allocation.mis_id}, which is also in this upload",
            )
        return Link(
            account_id,
            allocation.allocation_id,
            via,
            f"Matched by {same} to the account at this school that had MIS ID {allocation.mis_id}",
        )

    def _by_contact_details(self, record: PersonRecord) -> MatchDecision | None:
        """Contacts (no date of birth), and staff whose birthday did not settle it: the
        exact name plus the same email or phone, here or at a local school."""
        if record.role is Role.PUPIL:
            return None
        key = full_name_key(record.legal_given_name, record.legal_family_name)
        details = [d for d in (email_key(record.email), phone_key(record.phone)) if d]
        ids = {
            i
            for d in details
            for i in self.index.accounts_with_name_and_detail(record.role, key, d)
        }
        near = [
            i
            for i in sorted(ids)
            if self.index.location(i, record.role).where in (Where.HERE, Where.LOCAL)
            and _birthdays_agree(record, self.index.accounts[i])
        ]
        if len(near) > 1:
            return self._several(near, "have the same name and email or phone")
        if near:
            how = "the same name and email or phone"
            if self.index.location(near[0], record.role).where is Where.HERE:
                return self._link_here(record, near[0], Via.CONTACT_DETAILS, how)
            return self._link(record, near[0], Via.CONTACT_DETAILS, f"Matched by {how}")
        if record.role is Role.CONTACT or record.date_of_birth is None:
            # No date of birth to compare: a name alone is never enough to ask about.
            return New(
                f"No {ROLE_WORD[record.role]} here or at a local school has this name "
                "and email or phone"
            )
        return None

    def _near_misses(self, record: PersonRecord) -> MatchDecision:
        dob = record.date_of_birth
        if dob is None:
            return New("No account has this MIS ID, and there is no date of birth to compare")
        key = full_name_key(record.legal_given_name, record.legal_family_name)
        spoken = spoken_name(record.legal_given_name, record.legal_family_name)
        found: dict[int, Candidate] = {}
        for account_id in self.index.accounts_born_on(record.role, dob):
            if account_id in self.claimed_by:
                continue  # someone else in this upload is that account
            other = self.index.name_keys[account_id]
            same_given, same_family = key[0] == other[0], key[1] == other[1]
            if same_family and not same_given and not self._similar(key[0], other[0]):
                continue  # twins: same surname and birthday, another forename
            account = self.index.accounts[account_id]
            score = fuzz.token_sort_ratio(
                spoken, spoken_name(account.legal_given_name, account.legal_family_name)
            )
            if same_family or same_given or score >= self.threshold:
                why = _near_miss_reasons(same_given, same_family, score)
                found[account_id] = self._candidate(record, account, score / 100, why)
        swapped = swapped_day_month(dob)
        if swapped is not None:
            for account_id in self.index.accounts_with_name_dob(record.role, key, swapped):
                if account_id not in self.claimed_by and account_id not in found:
                    why = f"same name, born {day(swapped)}: day and month swapped"
                    account = self.index.accounts[account_id]
                    found[account_id] = self._candidate(record, account, 0.9, why)
        if not found:
            return New("No existing account matches by MIS ID, UPN, or name and date of birth")
        ranked = sorted(found.values(), key=lambda c: (-c.score, c.account_id))
        noun = "account" if len(ranked) == 1 else "accounts"
        return Candidates(
            tuple(ranked[:MAX_CANDIDATES]), f"Similar to {len(ranked)} existing {noun}"
        )

    # -- helpers ------------------------------------------------------------------

    def _similar(self, one: str, other: str) -> bool:
        """Forenames one slip apart ("Jonathan", "Jonathon"): maybe one person, so a
        person is asked; twins' forenames ("Jack", "Jake") are further apart."""
        return fuzz.ratio(one, other) >= self.threshold

    def _link(self, record: PersonRecord, account_id: int, via: Via, how: str) -> Link:
        location = self.index.location(account_id, record.role)
        allocation = self.index.allocation_here(account_id, record.role)
        if location.where is Where.HERE:
            where = "to the account at this school"
        elif location.where is Where.LOCAL:
            where = f"to the account at local school {location.school_urn}"
        elif location.where is Where.REGION:
            where = (
                f"to the account at school {location.school_urn}, "
                "which is in another local authority"
            )
        else:
            where = "to an existing account in the region"
        return Link(
            account_id, allocation.allocation_id if allocation else None, via, f"{how} {where}"
        )

    def _several(self, account_ids: list[int], what: str) -> Candidates:
        """Never pick one of several equally good accounts."""
        return Candidates(
            tuple(
                Candidate(i, 1.0, f"{_who(self.index.accounts[i])}: {what}") for i in account_ids
            ),
            f"{len(account_ids)} accounts {what}",
        )

    def _candidate(
        self, record: PersonRecord, account: AccountState, score: float, why: str
    ) -> Candidate:
        location = self.index.location(account.account_id, record.role)
        at = {
            Where.HERE: "at this school",
            Where.LOCAL: f"at local school {location.school_urn}",
            Where.REGION: f"at school {location.school_urn} in another local authority",
            Where.NOWHERE: "with no school",
        }[location.where]
        return Candidate(account.account_id, round(score, 3), f"{_who(account)} {at}: {why}")


def _birthdays_agree(record: PersonRecord, account: AccountState) -> bool:
    """No contradiction: the same date of birth, or one of them has none."""
    return None in (record.date_of_birth, account.date_of_birth) or (
        record.date_of_birth == account.date_of_birth
    )


def _plausibly_same(record: PersonRecord, account: AccountState) -> bool:
    """A UPN link still needs the date of birth or one name to agree (a mistyped UPN
    must not hand over another child's account)."""
    if record.date_of_birth is not None and record.date_of_birth == account.date_of_birth:
        return True
    mine = full_name_key(record.legal_given_name, record.legal_family_name)
    theirs = full_name_key(account.legal_given_name, account.legal_family_name)
    return mine[0] == theirs[0] or mine[1] == theirs[1]


def _near_miss_reasons(same_given: bool, same_family: bool, score: float) -> str:
    parts = ["same date of birth"]
    if same_given and same_family:
        parts.append("same legal name")
    elif same_family:
        parts.append("same surname, a similar forename")
    elif same_given:
        parts.append("same forename")
    parts.append(f"name {score:.0f}% similar")
    return ", ".join(parts)


def _who(account: AccountState) -> str:
    born = f", born {day(account.date_of_birth)}" if account.date_of_birth else ""
    return f"{account.legal_given_name} {account.legal_family_name} ({account.username}{born})"
