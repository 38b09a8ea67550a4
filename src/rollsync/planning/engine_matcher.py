"""`EngineMatcher`: the planner's default matcher, built on `rollsync.matching`.

Per upload, in this order (SPEC, "What a sync run does", step 2):

1. the same MIS ID at this school: decisive, and how a person's decision on a
   needs-matching case is remembered (resolving a case gives the account an
   allocation under the record's MIS ID);
2. a decision a person already made on this record (`DirectoryState.resolved_cases`)
   whose account no longer holds the MIS ID: the record stays with that account and
   is never asked about again;
3. pupils and staff, then contacts, through the matching engine: a UPN that agrees
   decides; otherwise the Fellegi-Sunter score with the engine's guards (twins,
   siblings, UPN conflicts, a name alone is no evidence). The accounts compared are
   the ones the snapshot's look-ups find (same UPN, date of birth or swapped date,
   phonetic name, email, phone, a shared pupil); names and dates of birth are
   weighed by how common they are across the whole snapshot.

Where an account is decides how it may be linked: at this school first, then at
a local school (a mover keeps one account); a non-MIS account here that nobody
requested is only offered to a person. An account seen only outside the LA (or at
no school) is never linked nor offered, whatever its UPN: the school may link to
its own and its local schools' accounts only. An account
another record of this upload already holds is offered, never linked; one a person
said a record is not is never offered to that record again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from rollsync.domain.actions import Candidate
from rollsync.domain.records import ContactLink, PersonRecord, Role
from rollsync.domain.state import AccountState, AllocationStatus, ResolvedCase
from rollsync.matching import (
    FREE,
    CandidateIndex,
    Decision,
    Evidence,
    MatchEngine,
    Outcome,
    Prepared,
    Restriction,
    Scored,
    Subject,
    default_model,
    subject_from_record,
)
from rollsync.matching.blocking import Frequencies, family_sounds, incoming_name_keys, name_keys
from rollsync.matching.engine import NOTHING_PLAUSIBLE
from rollsync.matching.normalise import email_key, given_tokens, phone_key, swapped_day_month
from rollsync.matching.subject import prepare
from rollsync.planning.fields import record_changes
from rollsync.planning.index import StateIndex, Where
from rollsync.planning.matching import Candidates, Link, MatchDecision, New, Via
from rollsync.planning.ordering import record_order
from rollsync.planning.wording import day

MAX_CANDIDATES = 5
# Up to this many records in one engine round, the accounts sharing a name, phone or
# email with them are found by one pass over the snapshot checking those few keys;
# more, and the look-ups are indexed in full (both give the same accounts).
SCAN_UP_TO = 1000


@lru_cache(maxsize=1)
def planner_engine() -> MatchEngine:
    """The shipped model with no view on whether an unmatched record is new: half of
    them are expected to have an account (starters are new; movers and a change of
    MIS are not)."""
    return MatchEngine(replace(default_model(), match_share=0.5))


@dataclass(slots=True)
class MatchWork:
    """What matching cost, counted (never timed): records the engine weighed, and the
    record-account pairs it was given to compare (the look-ups' blocks). A scan of the
    region would make `pairs` records x accounts; look-ups keep it near records x a few."""

    records: int = 0
    pairs: int = 0


class EngineMatcher:
    """MIS ID, a person's earlier decision, then the matching engine (module docstring).

    `work` adds up what every call cost (see `MatchWork`)."""

    def __init__(self, engine: MatchEngine | None = None) -> None:
        self.engine = engine or planner_engine()
        self.work = MatchWork()

    def match(
        self,
        records: Sequence[PersonRecord],
        state: object,
        *,
        contact_links: Sequence[ContactLink] = (),
    ) -> list[MatchDecision]:
        from rollsync.domain.state import DirectoryState

        assert isinstance(state, DirectoryState)
        return self.match_indexed(records, StateIndex(state), contact_links=contact_links)

    def match_indexed(
        self,
        records: Sequence[PersonRecord],
        index: StateIndex,
        *,
        contact_links: Sequence[ContactLink] = (),
        held: Mapping[int, str] | None = None,
        also_listed: Collection[tuple[Role, str]] = (),
    ) -> list[MatchDecision]:
        """`match` over an index the caller already built (the planner shares its own).
        `held`: accounts another MIS ID of this upload holds though its record is not
        among `records` (a refused row, a person a partial batch left out as unchanged):
        offered, never linked. `also_listed`: (role, MIS ID) of people the upload lists
        whose records are not among `records` (left out as unchanged): their places here
        are theirs, never where an unmatched record is likely to belong."""
        run = _Run(self.engine, records, index, contact_links, self.work, also_listed)
        for account_id, mis_id in (held or {}).items():
            run.claimed.setdefault(account_id, mis_id)
        return run.decide()


class _Run:
    def __init__(
        self,
        engine: MatchEngine,
        records: Sequence[PersonRecord],
        index: StateIndex,
        contact_links: Sequence[ContactLink],
        work: MatchWork,
        also_listed: Collection[tuple[Role, str]] = (),
    ) -> None:
        self.engine = engine
        self.work = work
        self.records = records
        self.index = index
        self.order = record_order(records)
        self.decisions: list[MatchDecision | None] = [None] * len(records)
        self.claimed: dict[int, str] = {}  # account_id -> the MIS ID that holds it
        self.resolved: dict[tuple[Role, str], ResolvedCase] = {
            (c.role, c.mis_id): c for c in index.state.resolved_cases
        }
        self.by_key = {r.key: r for r in records}
        self.also_listed = frozenset(also_listed)
        self.positions = {r.key: n for n, r in enumerate(records)}
        self.pupils_of: dict[str, set[str]] = defaultdict(set)
        self.contacts_of: dict[str, set[str]] = defaultdict(set)
        for link in contact_links:
            self.pupils_of[link.contact_mis_id].add(link.pupil_mis_id)
            self.contacts_of[link.pupil_mis_id].add(link.contact_mis_id)
        self._lookups: _Lookups | None = None

    def decide(self) -> list[MatchDecision]:
        for i in self.order:
            self.decisions[i] = self._by_mis_id(self.records[i])
        for i in self.order:
            if self.decisions[i] is None:
                self.decisions[i] = self._by_resolution(self.records[i])
        for roles in ((Role.PUPIL, Role.STAFF), (Role.CONTACT,)):
            todo = [
                i for i in self.order if self.decisions[i] is None and self.records[i].role in roles
            ]
            competing: Counter[Role] | None = None
            while todo:
                todo, competing = self._by_engine(todo, competing)
        out = [d for d in self.decisions if d is not None]
        assert len(out) == len(self.records)
        return out

    # -- 1 and 2: decisive keys -----------------------------------------------------------

    def _by_mis_id(self, record: PersonRecord) -> MatchDecision | None:
        allocation = self.index.here_by_key(record.role, record.mis_id)
        if allocation is None:
            return None
        self.claimed[allocation.account_id] = record.mis_id
        return Link(
            allocation.account_id,
            allocation.allocation_id,
            Via.MIS_ID,
            f"Matched by MIS ID {record.mis_id} at this school",
        )

    def _by_resolution(self, record: PersonRecord) -> MatchDecision | None:
        case = self.resolved.get(record.key)
        if case is None or case.account_id is None:
            return None
        account = self.index.account(case.account_id)
        if account is None or account.role != record.role:
            return None
        if self.index.location(account.account_id, record.role).where not in (
            Where.HERE,
            Where.LOCAL,
        ):
            return None  # gone outside the LA since: not this school's to link
        holder = self.claimed.get(account.account_id)
        how = (
            "matched this record to this account"
            if case.decision == "linked"
            else "made this account for this record"
        )
        if holder is not None:
            return Candidates(
                (Candidate(account.account_id, 1.0, f"Already matched to MIS ID {holder}"),),
                f"A person {how} ({_who(account)}, case {case.case_id}), but that "
                f"account is already matched to MIS ID {holder} in this upload",
            )
        self.claimed[account.account_id] = record.mis_id
        allocation = self.index.allocation_here(account.account_id, record.role)
        return Link(
            account.account_id,
            allocation.allocation_id if allocation else None,
            Via.RESOLVED,
            f"A person at the school {how} in needs-matching case {case.case_id}",
        )

    # -- 3: the engine ----------------------------------------------------------------------

    def _by_engine(
        self, todo: list[int], competing: Counter[Role] | None
    ) -> tuple[list[int], Counter[Role]]:
        """Decides `todo`; returns the records to decide again, and per role how many
        unmatched records still compete for the returning accounts.

        Decided again: records asked about while an account they could be was linked
        to another record in this round, or while the returning accounts' prior was
        shared with records that turned out to be none of them (linked elsewhere, or
        like no account at all). The same upload planned again sees those links as MIS
        IDs and those new people with accounts of their own; deciding these records
        again now, in that light, keeps the second plan the same as the first."""
        lookups = self._lookups or _Lookups(self.index)
        self._lookups = lookups
        todo = self._alone(todo, lookups.roles())
        if not todo:
            return [], Counter()
        subjects = [self._record_subject(self.records[i]) for i in todo]
        # Many records at once (a first import): prepared uncached, so each round's are
        # let go when it is decided, not held by the cache until the plan is applied.
        make = prepare if len(todo) <= SCAN_UP_TO else prepare.__wrapped__
        prepared = [make(s) for s in subjects]
        pools = lookups.pools(prepared)
        pool = sorted(set().union(*pools))
        candidates = CandidateIndex(
            [self._as_compared(a) for a in pool], frequencies=lookups.frequencies(), keyed=False
        )
        position = {account_id: n for n, account_id in enumerate(pool)}
        blocks = [sorted(position[a] for a in found) for found in pools]
        self.work.records += len(todo)
        self.work.pairs += sum(len(b) for b in blocks)
        rejected = {
            n: self.resolved[self.records[i].key].rejected_account_ids
            for n, i in enumerate(todo)
            if self.records[i].key in self.resolved
        }

        returning = self._returning_prior(todo, competing)

        def restrict(n: int, candidate: Prepared) -> Restriction:
            account_id = candidate.id
            assert isinstance(account_id, int)
            if account_id in rejected.get(n, ()):
                return Restriction(offer=False)
            role = self.records[todo[n]].role
            found = lookups.restriction(account_id, role)
            if account_id in returning.get(role, {}):
                return replace(found, prior=returning[role][account_id])
            return found

        claimed: dict[Hashable, str] = {
            account_id: f"already matched to MIS ID {mis_id}, which is also in this upload"
            for account_id, mis_id in self.claimed.items()
        }
        decisions = self.engine.decide(
            prepared, candidates, restrict=restrict, claimed=claimed, blocks=blocks
        )
        linked: set[Hashable] = set()
        for i, decision in zip(todo, decisions, strict=True):
            self.decisions[i] = self._planned(self.records[i], decision)
            if isinstance(self.decisions[i], Link):
                self.claimed[decision.target] = self.records[i].mis_id  # type: ignore[index]
                linked.add(decision.target)
        asked = [
            (i, {c.id for c in decision.candidates})
            for i, decision in zip(todo, decisions, strict=True)
            if decision.outcome is Outcome.CANDIDATES
        ]
        still = Counter(
            self.records[i].role
            for i, ids in asked
            if ids & returning.get(self.records[i].role, {}).keys()
        )
        unmatched = competing or Counter(self.records[i].role for i in todo)
        shared_less = {role for role in returning if still[role] < unmatched[role]}
        again = [
            i
            for i, ids in asked
            if ids & linked
            or (
                self.records[i].role in shared_less and ids & returning[self.records[i].role].keys()
            )
        ]
        return again, still

    def _alone(self, todo: list[int], roles: frozenset[Role]) -> list[int]:
        """Decides new, unweighed, each record of a role no account of the snapshot has
        (a first import into an empty LA: every record), and returns the others. The
        engine compares a record only with accounts of its role, so with none it finds
        nothing and says new: the same decision, without preparing the record or making
        its keys (0.2-0.4 s of a 5,000-pupil first import's CPU, 4 December 2026). No
        round's count of competing records changes: those count only the roles of the
        accounts here."""
        weighed = []
        for i in todo:
            if self.records[i].role in roles:
                weighed.append(i)
            else:
                self.decisions[i] = self._planned(self.records[i], NOTHING_PLAUSIBLE)
        return weighed

    def _as_compared(self, account_id: int) -> Prepared:
        """An account another record of this upload holds is compared as that record
        will leave it (offered, never linked): after this plan it carries that record's
        names, date of birth and details here, and the same upload planned again must
        see the same account it is planned against now."""
        assert self._lookups is not None
        holder = self.claimed.get(account_id)
        account = self.index.accounts[account_id]
        record = self.by_key.get((account.role, holder)) if holder is not None else None
        if record is None or self._changes_nothing(record, account):
            # No record here to change it (a refused row, a person left out as unchanged),
            # or one that changes nothing: it is left as it is.
            return self._lookups.prepared(account_id)
        subject = self._lookups.subject(account)
        unknown = record.unknown_fields
        names = {
            "given": "legal_given_name",
            "family": "legal_family_name",
            "preferred_given": "preferred_given_name",
            "preferred_family": "preferred_family_name",
            "middle": "middle_names",
            "dob": "date_of_birth",
            "upn": "upn",
        }
        held = {
            field: getattr(record, attribute)
            for field, attribute in names.items()
            if attribute not in unknown
        }
        if "gender" not in unknown:
            held["gender"] = record.gender.value if record.gender is not None else None
        elsewhere = [
            a
            for a in self.index.allocations_of(account_id)
            if a.school_urn != self.index.urn or a.role != record.role
        ]
        for field, attribute in (
            ("postcodes", "postcode"),
            ("addresses", "address"),
            ("emails", "email"),
            ("phones", "phone"),
        ):
            held[field] = _values(
                [*(getattr(a, attribute) for a in elsewhere), getattr(record, attribute)]
            )
        return prepare(replace(subject, **held))

    def _changes_nothing(self, record: PersonRecord, account: AccountState) -> bool:
        """The record keeps its place here and changes no stored value: after this plan
        the account is as it is now, whatever blanks or unknown fields the record has."""
        allocation = self.index.allocation_here(account.account_id, record.role)
        return allocation is not None and not record_changes(record, account, allocation)

    def _returning_prior(
        self, todo: list[int], competing: Counter[Role] | None = None
    ) -> dict[Role, dict[int, float]]:
        """Accounts here whose MIS ID is not in this upload, and accounts requested for
        this school by hand (User Request Single) that no MIS record backs yet, are where
        the upload's unmatched records most likely belong (a change of MIS re-keys them
        all; a pupil re-entered under a new MIS ID; the MIS catching up with a request).
        Per role: if k such accounts and n unmatched records, each account is a record's
        with prior min(k, n) / n / k (at most 0.99 in all), instead of one in the size of
        the whole snapshot. `competing`, once a round has shown it, is n: the records
        still asked about with a returning account among their candidates."""
        unmatched = competing or Counter(self.records[i].role for i in todo)
        here: dict[Role, set[int]] = defaultdict(set)
        for allocation in self.index.state.allocations:
            if (
                allocation.school_urn == self.index.urn
                and allocation.status is not AllocationStatus.UNALLOCATED
                and allocation.account_id not in self.claimed
                and (allocation.mis_id or allocation.requested_single)
                and (allocation.role, allocation.mis_id) not in self.by_key
                and (allocation.role, allocation.mis_id) not in self.also_listed
            ):
                here[allocation.role].add(allocation.account_id)
        out: dict[Role, dict[int, float]] = {}
        for role, accounts in here.items():
            n = unmatched.get(role, 0)
            if n:
                share = min(len(accounts), n) / n * 0.99
                out[role] = dict.fromkeys(sorted(accounts), share / len(accounts))
        return out

    def _record_subject(self, record: PersonRecord) -> Subject:
        household: set[str] = set()
        children: set[str] = set()
        if record.role is Role.PUPIL:
            for contact_id in self.contacts_of.get(record.mis_id, ()):
                contact = self.by_key.get((Role.CONTACT, contact_id))
                if contact is not None:
                    household |= _detail_keys(contact.phone, contact.email)
        elif record.role is Role.CONTACT:
            for pupil_id in self.pupils_of.get(record.mis_id, ()):
                pupil = self.by_key.get((Role.PUPIL, pupil_id))
                if pupil is not None and pupil.upn:
                    children.add(f"upn:{pupil.upn}")
                n = self.positions.get((Role.PUPIL, pupil_id))
                decided = self.decisions[n] if n is not None else None
                if isinstance(decided, Link):
                    children.add(f"account:{decided.account_id}")
                elif n is None:  # a contacts-only upload: its pupils came in another file
                    allocation = self.index.here_by_key(Role.PUPIL, pupil_id)
                    if allocation is not None:
                        children.add(f"account:{allocation.account_id}")
        return subject_from_record(record, record.key, household=household, children=children)

    # -- engine decisions in the planner's words -------------------------------------------

    def _planned(self, record: PersonRecord, decision: Decision) -> MatchDecision:
        if decision.outcome is Outcome.NEW:
            return New(
                "No existing account matches by MIS ID, UPN, or name, date of birth "
                "and other details"
            )
        if decision.outcome is Outcome.CANDIDATES and isinstance(decision.taken_by, tuple):
            holder = decision.taken_by[1]
            taken = decision.candidates[0].id
            assert isinstance(taken, int)
            return Candidates(
                (
                    Candidate(
                        taken, decision.score, f"Already matched to MIS ID {holder} in this upload"
                    ),
                ),
                f"{self._planned(record, _as_link(decision)).explanation}, but that account is "
                f"already matched to MIS ID {holder} in this upload",
            )
        if decision.outcome is Outcome.CANDIDATES:
            shown = decision.candidates[:MAX_CANDIDATES]
            noun = "account" if len(shown) == 1 else "accounts"
            return Candidates(
                tuple(self._candidate(record, s) for s in shown),
                f"Similar to {len(shown)} existing {noun} ({decision.explanation})",
            )
        account_id = decision.target
        assert isinstance(account_id, int)
        best = decision.candidates[0]
        allocation = self.index.allocation_here(account_id, record.role)
        where = self._where(account_id, record.role)
        if decision.evidence is Evidence.UPN:
            return Link(
                account_id,
                allocation.allocation_id if allocation else None,
                Via.UPN,
                f"Matched by UPN {record.upn} {where}",
            )
        by = f"Matched by {_agreeing(best)} ({best.probability:.2%} likely)"
        if decision.evidence is Evidence.CHANGED_SURNAME:
            surname = next(f for f in best.fields if f.comparison == "family")
            by = (
                f"Matched by {_agreeing(best)}, the surname changed "
                f"({surname.left} / {surname.right})"
            )
        if allocation is not None and not allocation.mis_id and allocation.requested_single:
            return Link(
                account_id,
                allocation.allocation_id,
                Via.REQUEST_SINGLE,
                f"{by} to the account requested for this school by hand (User Request Single)",
            )
        if allocation is not None and allocation.mis_id and allocation.mis_id != record.mis_id:
            where = f"{where} that had MIS ID {allocation.mis_id}"
        return Link(
            account_id,
            allocation.allocation_id if allocation else None,
            Via.EVIDENCE,
            f"{by} {where}",
        )

    def _where(self, account_id: int, role: Role) -> str:
        location = self.index.location(account_id, role)
        if location.where is Where.HERE:
            return "to the account at this school"
        if location.where is Where.LOCAL:
            return f"to the account at local school {location.school_urn}"
        if location.where is Where.REGION:
            return (
                f"to the account at school {location.school_urn}, "
                "which is in another local authority"
            )
        return "to an existing account in the region"

    def _candidate(self, record: PersonRecord, scored: Scored) -> Candidate:
        account_id = scored.id
        assert isinstance(account_id, int)
        account = self.index.accounts[account_id]
        location = self.index.location(account_id, record.role)
        at = {
            Where.HERE: "at this school",
            Where.LOCAL: f"at local school {location.school_urn}",
            Where.REGION: f"at school {location.school_urn} in another local authority",
            Where.NOWHERE: "with no school",
        }[location.where]
        return Candidate(
            account_id, round(scored.probability, 4), f"{_who(account)} {at}: {scored.explain()}"
        )


class _Lookups:
    """What the engine needs from the snapshot, built once per plan and only when some
    record is left after the MIS IDs: subjects for accounts, look-ups to find the
    accounts worth comparing, and name frequencies over the whole snapshot."""

    def __init__(self, index: StateIndex) -> None:
        self.index = index
        self.state = index.state
        self._prepared: dict[int, Prepared] = {}
        self._restrictions: dict[tuple[int, Role], Restriction] = {}
        self._frequencies: Frequencies | None = None
        self._roles: frozenset[Role] | None = None
        self._by_name: dict[str, list[int]] | None = None
        self._by_detail: dict[str, list[int]] | None = None
        # The look-ups a few records made, by key (`_name_scan`, `_detail_scan`).
        self._scanned_names: dict[str, list[int]] = {}
        self._scanned_details: dict[str, list[int]] = {}
        self.contacts_of: dict[int, list[int]] = defaultdict(list)  # pupil -> contacts
        self.pupils_of: dict[int, list[int]] = defaultdict(list)  # contact -> pupils
        for contact_id, pupil_id in sorted(self.state.contact_links):
            self.contacts_of[pupil_id].append(contact_id)
            self.pupils_of[contact_id].append(pupil_id)

    def roles(self) -> frozenset[Role]:
        """The roles of the snapshot's accounts."""
        if self._roles is None:
            self._roles = frozenset(account.role for account in self.index.accounts.values())
        return self._roles

    def frequencies(self) -> Frequencies:
        if self._frequencies is None:
            keys = self.index.name_keys  # the same folded keys as `Prepared` holds
            firsts: dict[str | None, str] = {}  # forenames repeat: tokenised once each
            roles = {role: role.value for role in Role}
            rows = []
            for account_id, account in self.index.accounts.items():
                given, family = keys[account_id]
                first = firsts.get(account.legal_given_name)
                if first is None:
                    tokens = given_tokens(account.legal_given_name)
                    first = firsts[account.legal_given_name] = tokens[0] if tokens else ""
                rows.append((roles[account.role], given, family, account.date_of_birth, first))
            f = Frequencies()
            f.add_all(rows)
            self._frequencies = f
        return self._frequencies

    def _name_index(self) -> dict[str, list[int]]:
        if self._by_name is None:
            by_name: dict[str, list[int]] = defaultdict(list)
            for account_id in sorted(self.index.accounts):
                for key in _account_name_keys(self.index.accounts[account_id]):
                    by_name[key].append(account_id)
            self._by_name = by_name
        return self._by_name

    def _name_scan(self, wanted: set[str]) -> Mapping[str, list[int]]:
        """The name index for `wanted` keys only: one pass over the accounts, making the
        keys only of those whose surname sounds like a wanted key's (most share none)."""
        need = wanted - self._scanned_names.keys()
        if need:
            surnames: dict[str, set[str]] = defaultdict(set)  # role -> wanted surname sounds
            for key in need:
                role, _, pair = key.partition("|n:")
                surnames[role].add(pair.rsplit("|", 1)[1])
            found: dict[str, list[int]] = {key: [] for key in need}
            sounds: dict[tuple[str | None, str | None], set[str]] = {}
            for account_id in sorted(self.index.accounts):
                a = self.index.accounts[account_id]
                wanted_here = surnames.get(a.role.value)
                if not wanted_here:
                    continue
                names = (a.legal_family_name, a.preferred_family_name)
                sound = sounds.get(names)
                if sound is None:
                    sound = sounds[names] = family_sounds(*names)
                if wanted_here.isdisjoint(sound):
                    continue
                for key in _account_name_keys(a):
                    if key in need:
                        found[key].append(account_id)
            self._scanned_names.update(found)
        return self._scanned_names

    def _detail_index(self) -> dict[str, list[int]]:
        if self._by_detail is None:
            by_detail: dict[str, list[int]] = defaultdict(list)
            for allocation in self.state.allocations:
                account = self.index.accounts.get(allocation.account_id)
                if account is None:
                    continue
                for key in _detail_keys(allocation.phone, allocation.email):
                    by_detail[f"{account.role.value}|{key}"].append(account.account_id)
            self._by_detail = by_detail
        return self._by_detail

    def _detail_scan(self, wanted: set[tuple[str, str, str]]) -> Mapping[str, list[int]]:
        """The detail index for `wanted` (role, "t" or "e", phone or email key) only: one
        pass over the allocations of those roles, normalising only what is there."""
        need = {w for w in wanted if f"{w[0]}|{w[1]}:{w[2]}" not in self._scanned_details}
        if need:
            phones: dict[str, set[str]] = defaultdict(set)
            emails: dict[str, set[str]] = defaultdict(set)
            for role, kind, value in need:
                (phones if kind == "t" else emails)[role].add(value)
            found: dict[str, list[int]] = {f"{r}|{k}:{v}": [] for r, k, v in need}
            for allocation in self.state.allocations:
                account = self.index.accounts.get(allocation.account_id)
                if account is None:
                    continue
                role = account.role.value
                if allocation.phone and role in phones:
                    phone = phone_key(allocation.phone)
                    if phone in phones[role]:
                        found[f"{role}|t:{phone}"].append(account.account_id)
                if allocation.email and role in emails:
                    email = email_key(allocation.email)
                    if email in emails[role]:
                        found[f"{role}|e:{email}"].append(account.account_id)
            self._scanned_details.update(found)
        return self._scanned_details

    def pools(self, incoming: Sequence[Prepared]) -> list[set[int]]:
        """Per incoming record, the accounts worth comparing with it: the look-ups behind
        each of the engine's blocking keys. A few records (`SCAN_UP_TO`) look up only
        their own names and details; more, or once the full index exists, all of them."""
        if self._by_name is not None or len(incoming) > SCAN_UP_TO:
            # Many records (a first import): each record's keys are made as it is looked
            # up, not held for all of them at once.
            by_name, by_detail = self._name_index(), self._detail_index()
            return [self._pool(p, _name_keys_of(p), by_name, by_detail) for p in incoming]
        names = [_name_keys_of(p) for p in incoming]
        details = {
            (p.role, kind, value)
            for p in incoming
            if p.role
            for kind, values in (("t", p.phones), ("e", p.emails))
            for value in values
        }
        scanned_names = self._name_scan(set().union(*names))
        scanned_details = self._detail_scan(details)
        return [
            self._pool(p, keys, scanned_names, scanned_details)
            for p, keys in zip(incoming, names, strict=True)
        ]

    def _pool(
        self,
        p: Prepared,
        name_keys: set[str],
        by_name: Mapping[str, list[int]],
        by_detail: Mapping[str, list[int]],
    ) -> set[int]:
        role = Role(p.role) if p.role else None
        found: set[int] = set()
        if role is None:
            return found
        if p.upn:
            found.update(self.index.accounts_with_upn(p.upn, role))
        if p.dob is not None:
            found.update(self.index.accounts_born_on(role, p.dob))
            swapped = swapped_day_month(p.dob)
            if swapped is not None:
                found.update(self.index.accounts_born_on(role, swapped))
        for key in name_keys:
            found.update(by_name.get(key, ()))
        for phone in p.phones:
            found.update(by_detail.get(f"{p.role}|t:{phone}", ()))
        for email in p.emails:
            found.update(by_detail.get(f"{p.role}|e:{email}", ()))
        for child in p.subject.children:
            if child.startswith("account:"):
                for contact_id in self.contacts_of.get(int(child.split(":", 1)[1]), ()):
                    found.add(contact_id)
        return {a for a in found if a in self.index.accounts}

    def prepared(self, account_id: int) -> Prepared:
        found = self._prepared.get(account_id)
        if found is None:
            found = prepare(self.subject(self.index.accounts[account_id]))
            self._prepared[account_id] = found
        return found

    def subject(self, account: AccountState) -> Subject:
        allocations = self.index.allocations_of(account.account_id)
        household: set[str] = set()
        children: set[str] = set()
        if account.role is Role.PUPIL:
            for contact_id in self.contacts_of.get(account.account_id, ()):
                for allocation in self.index.allocations_of(contact_id):
                    household |= _detail_keys(allocation.phone, allocation.email)
        elif account.role is Role.CONTACT:
            for pupil_id in self.pupils_of.get(account.account_id, ()):
                children.add(f"account:{pupil_id}")
                pupil = self.index.accounts.get(pupil_id)
                if pupil is not None and pupil.upn:
                    children.add(f"upn:{pupil.upn}")
        return Subject(
            id=account.account_id,
            given=account.legal_given_name,
            family=account.legal_family_name,
            role=account.role.value,
            preferred_given=account.preferred_given_name,
            preferred_family=account.preferred_family_name,
            middle=account.middle_names,
            dob=account.date_of_birth,
            gender=account.gender.value if account.gender is not None else None,
            upn=account.upn,
            postcodes=_values(a.postcode for a in allocations),
            addresses=_values(a.address for a in allocations),
            emails=_values(a.email for a in allocations),
            phones=_values(a.phone for a in allocations),
            household=frozenset(household),
            children=frozenset(children),
        )

    def restriction(self, account_id: int, role: Role) -> Restriction:
        key = (account_id, role)
        found = self._restrictions.get(key)
        if found is None:
            found = self._restriction(account_id, role)
            self._restrictions[key] = found
        return found

    def _restriction(self, account_id: int, role: Role) -> Restriction:
        location = self.index.location(account_id, role)
        if location.where is Where.HERE:
            allocation = self.index.allocation_here(account_id, role)
            if allocation is not None and not allocation.mis_id and not allocation.requested_single:
                return Restriction(
                    auto=False,
                    upn_auto=False,
                    note="a non-MIS account at this school: a person decides",
                )
            return FREE
        if location.where is Where.LOCAL:
            return Restriction(tier=1)
        # Seen only outside the LA, or at no school: never linked nor offered (the school
        # may link to its own and its local schools' accounts only).
        return _NOT_OURS


_NOT_OURS = Restriction(offer=False, auto=False, upn_auto=False)


def _as_link(decision: Decision) -> Decision:
    """The link a decision would have been, had another record not taken its account."""
    best = decision.candidates[0]
    return replace(
        decision,
        outcome=Outcome.LINK,
        target=best.id,
        evidence=Evidence.UPN if best.decisive_upn else Evidence.WEIGHTS,
        taken_by=None,
    )


def _account_name_keys(a: AccountState) -> set[str]:
    """An account's `n:` blocking keys, from its legal and preferred names."""
    return name_keys(
        a.role.value,
        a.legal_given_name,
        a.legal_family_name,
        a.preferred_given_name,
        a.preferred_family_name,
    )


def _name_keys_of(p: Prepared) -> set[str]:
    """An incoming record's `n:` blocking keys (none without a role: it is not looked up)."""
    return incoming_name_keys(p) if p.role else set()


def _detail_keys(phone: str | None, email: str | None) -> set[str]:
    out = set()
    if (t := phone_key(phone)) is not None:
        out.add(f"t:{t}")
    if (e := email_key(email)) is not None:
        out.add(f"e:{e}")
    return out


def _values(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(sorted({v for v in values if v}))


def _agreeing(scored: Scored) -> str:
    """ "forename, surname and date of birth": the fields that agreed."""
    names = [f.label for f in scored.fields if f.level is not None and f.weight > 0]
    if not names:
        return "the evidence"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _who(account: AccountState) -> str:
    born = f", born {day(account.date_of_birth)}" if account.date_of_birth else ""
    return f"{account.legal_given_name} {account.legal_family_name} ({account.username}{born})"
