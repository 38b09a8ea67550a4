"""What a simulator serves: schools as their MIS holds them (`SchoolSnapshot`s, every
report), from a `rollsync simulate --mis-data` folder or given directly by a test.

From a folder, the day served is the newest unless `day` is set; `day` can be moved while
the server runs (the demo walks its days so).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path

from rollsync.simulate.mis_data import MIS_DATA_FILE, load_snapshot
from rollsync.simulate.snapshot import SchoolSnapshot


class SimData:
    def __init__(
        self,
        snapshots: Iterable[SchoolSnapshot] = (),
        *,
        folder: Path | None = None,
        day: int | None = None,
    ) -> None:
        self._fixed = {s.urn: s for s in snapshots}
        self._folder = folder
        self._day = day
        self._cache: dict[tuple[int, str], SchoolSnapshot] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_dir(cls, folder: Path | str, *, day: int | None = None) -> SimData:
        folder = Path(folder)
        if not (folder / "la.json").is_file():
            raise FileNotFoundError(
                f"{folder} is not a simulated LA (no la.json): make one with "
                "`rollsync simulate --out DIR --mis-data`"
            )
        data = cls(folder=folder, day=day)
        if not data.days():
            raise FileNotFoundError(
                f"{folder} holds no {MIS_DATA_FILE}: simulate it with --mis-data"
            )
        return data

    def days(self) -> list[int]:
        if self._folder is None:
            return [1]
        return sorted(
            int(p.name[4:]) for p in self._folder.glob("day-*") if any(p.glob(f"*/{MIS_DATA_FILE}"))
        )

    @property
    def day(self) -> int:
        if self._day is not None:
            return self._day
        days = self.days()
        return days[-1] if days else 1

    @day.setter
    def day(self, value: int | None) -> None:
        self._day = value

    def urns(self) -> list[str]:
        if self._folder is None:
            return sorted(self._fixed)
        la = json.loads((self._folder / "la.json").read_bytes())
        return [s["urn"] for s in la["schools"]]

    def school(self, urn: str) -> SchoolSnapshot | None:
        """The school on the day served, or None when the LA has no such school."""
        if urn in self._fixed:
            return self._fixed[urn]
        if self._folder is None:
            return None
        day = self.day
        key = (day, urn)
        with self._lock:
            if key not in self._cache:
                path = self._folder / f"day-{day:02d}" / urn / MIS_DATA_FILE
                if not path.is_file():
                    return None
                self._cache[key] = load_snapshot(path.read_bytes())
            return self._cache[key]

    def day_file(self, urn: str) -> Path | None:
        """The school's `mis-data.json` on the day served (None when there is none)."""
        if self._folder is None:
            return None
        path = self._folder / f"day-{self.day:02d}" / urn / MIS_DATA_FILE
        return path if path.is_file() else None

    def replace(self, snapshot: SchoolSnapshot) -> None:
        """Serve `snapshot` for its school from now on (tests: a leaver, a new name)."""
        self._fixed[snapshot.urn] = snapshot
