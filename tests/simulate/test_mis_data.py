"""The simulators' data: a school's day as its MIS holds it, round-tripped exactly, and
written beside the exports only when asked."""

from __future__ import annotations

from pathlib import Path

from rollsync.missim import SimData
from rollsync.simulate import make_school_truth, simulate_region
from rollsync.simulate.mis_data import MIS_DATA_FILE, dump_snapshot, load_snapshot


def test_round_trip() -> None:
    snap = make_school_truth(pupils=30, phase="Primary")
    assert load_snapshot(dump_snapshot(snap)) == snap


def test_written_only_when_asked(tmp_path: Path) -> None:
    plain = simulate_region(tmp_path / "a", schools=1, seed=3, days=2, scale=0.05)
    assert not list((tmp_path / "a").rglob(MIS_DATA_FILE))
    with_data = simulate_region(
        tmp_path / "b", schools=1, seed=3, days=2, scale=0.05, mis_data=True
    )
    # the exports are the same bytes either way; the MIS data is not in the manifest
    assert [f.sha256 for f in plain.files] == [f.sha256 for f in with_data.files]
    data = SimData.from_dir(tmp_path / "b")
    assert data.days() == [1, 2] and data.day == 2
    urn = with_data.schools[0].urn
    day2 = data.school(urn)
    assert day2 is not None and day2.day == 2
    data.day = 1
    day1 = data.school(urn)
    assert day1 is not None and day1.day == 1
    assert data.school("999999") is None
