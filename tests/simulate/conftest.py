"""One small simulated LA, built once for the whole session (tiny schools, five days).

ROLLSYNC_SIM_TEST_SEED=<n> runs the same tests against another seed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rollsync.simulate import Realism, SimulationManifest, simulate_region
from tests.simulate.readers import load_json

SEED = int(os.environ.get("ROLLSYNC_SIM_TEST_SEED", "11"))
DAYS = 5


@dataclass(frozen=True)
class Sim:
    out: Path
    manifest: SimulationManifest
    truth: dict[str, Any]
    la: dict[str, Any]

    def people_at(self, urn: str, day: int, role: str) -> dict[str, str]:
        """key -> person_id for everyone the truth says the school listed that day."""
        return {
            a["mis_id"]: a["person_id"]
            for a in self.truth["allocations"]
            if a["urn"] == urn and a["role"] == role and a["first_day"] <= day <= a["last_day"]
        }

    def format_on(self, urn: str, day: int) -> str:
        return self.manifest.school(urn).format_on(day)


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Sim:
    out = tmp_path_factory.mktemp("sim")
    manifest = simulate_region(
        out, schools=5, seed=SEED, days=DAYS, realism=Realism(scale=0.08, temporary_upn_share=0.05)
    )
    return Sim(out, manifest, load_json(out / "truth.json"), load_json(out / "la.json"))
