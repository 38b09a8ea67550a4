"""A sync run's steps timed apart: where a phase of the sync bench spends its time.

`timed_steps()` wraps, for as long as it is open, the functions the sync service calls
for each step of a run (each looked up by its module at call time, so the wrapper is
what the service calls) and adds up this process's CPU seconds, wall seconds and calls
of each. The steps nest as the run does: the matcher is part of the plan, the plan of
a try; "rest" is what the phase spent outside the top-level steps (the checks before
and under the lock, writing the run's rows, the commit). Used by `./dev bench --steps`;
tests/bench/test_steps.py runs a night through it, so a renamed step fails there.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    label: str
    owner: str  # a module, or module:Class for a method
    name: str
    top: bool = True  # False: nested in a step above it (not subtracted for "rest")


STEPS = (
    Step("store the upload", "rollsync.directory.services.sync", "upload_store"),
    Step("read in full", "rollsync.ingest", "parse_upload"),
    Step("read in part", "rollsync.ingest", "parse_changed"),
    Step("snapshot", "rollsync.directory.selectors", "directory_state_for"),
    Step("index of the snapshot", "rollsync.planning", "StateIndex"),
    Step("people left out checked", "rollsync.planning", "unsafe_unchanged"),
    Step("plan", "rollsync.planning", "plan"),
    Step(
        "  of which the matcher",
        "rollsync.planning.engine_matcher:EngineMatcher",
        "match_indexed",
        top=False,
    ),
    Step("apply", "rollsync.directory.services.sync", "sync_plan_apply"),
)


@dataclass
class Tally:
    cpu: float = 0.0
    wall: float = 0.0
    calls: int = 0


@dataclass
class StepTimes:
    tallies: dict[str, Tally] = field(default_factory=lambda: {s.label: Tally() for s in STEPS})

    def top_cpu(self) -> float:
        return sum(self.tallies[s.label].cpu for s in STEPS if s.top)

    def top_wall(self) -> float:
        return sum(self.tallies[s.label].wall for s in STEPS if s.top)


def _owner(path: str) -> Any:
    module, _, cls = path.partition(":")
    owner = importlib.import_module(module)
    return getattr(owner, cls) if cls else owner


def _timed(function: Callable[..., Any], tally: Tally) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            tally.cpu += time.process_time() - cpu
            tally.wall += time.perf_counter() - wall
            tally.calls += 1

    return timed


@contextmanager
def timed_steps() -> Iterator[StepTimes]:
    """Every step of `STEPS` timed while open; each put back as it was on leaving."""
    times = StepTimes()
    replaced: list[tuple[Any, str, Any]] = []
    try:
        for step in STEPS:
            owner = _owner(step.owner)
            original = owner.__dict__[step.name]  # KeyError: the step was renamed
            replaced.append((owner, step.name, original))
            setattr(owner, step.name, _timed(original, times.tallies[step.label]))
        yield times
    finally:
        for owner, name, original in reversed(replaced):
            setattr(owner, name, original)
