"""A school's sync policy: the settings the planner obeys for one run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class SchoolPolicy:
    accepted_reports: frozenset[str]
    # Unallocate at most this share of the school's active accounts without approval.
    guard_unallocate_pct: float = 10.0
    # Hold the run when more than this share of matched people change MIS ID (a change of MIS).
    guard_rekey_pct: float = 50.0
    # Days a leaver keeps access after first being gone (year 13 keep mail mid-applications).
    leaver_grace_days: int = 0
    today: date = date(2000, 1, 1)
    # Set when a person approved a held run: the guard is acknowledged, not skipped silently.
    guard_acknowledged: bool = False

    def accepts(self, report: str) -> bool:
        return report in self.accepted_reports
