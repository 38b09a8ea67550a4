"""A seeded, realistic local authority and its schools' day-by-day MIS exports,
in every format rollsync reads, with the ground truth to judge matching by.

    manifest = simulate_region(Path("var/sim"), schools=5, seed=1, days=10)

Pure Python (no Django); the same seed gives byte-identical output. See
`region.py` for the output layout and `truth.py` for what truth.json holds.
"""

from rollsync.simulate.options import Realism
from rollsync.simulate.region import (
    ManifestEntry,
    SchoolInfo,
    SimulationManifest,
    make_school_truth,
    simulate_region,
    write_school_export,
)
from rollsync.simulate.snapshot import SchoolSnapshot
from rollsync.simulate.truth import index as truth_index
from rollsync.simulate.truth import lookup as truth_lookup

__all__ = [
    "ManifestEntry",
    "Realism",
    "SchoolInfo",
    "SchoolSnapshot",
    "SimulationManifest",
    "make_school_truth",
    "simulate_region",
    "truth_index",
    "truth_lookup",
    "write_school_export",
]
