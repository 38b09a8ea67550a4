"""Run every fuzz target for a bounded time: `python -m fuzz [seconds]` (default 60).

The time is shared out evenly between the targets. Each runs Hypothesis in rounds
of examples until its share is spent; the first input that makes `parse_upload`
raise, or return a batch that breaks `targets.check` (or, for a format read in part,
whose read in part against the seed is not its full parse less the people left out:
`targets.check_in_part`), stops the run: it is shrunk,
written to var/fuzz-crashes/, and the command exits 1.
"""

from __future__ import annotations

import hashlib
import pathlib
import sys
import time
import traceback

from hypothesis import HealthCheck, Phase, given, settings

from fuzz.targets import Target, check, check_in_part, parse, payloads, targets

# var/ is ignored by git: crashes are for a person to look at, then add to the corpus.
CRASHES = pathlib.Path(__file__).resolve().parent.parent / "var" / "fuzz-crashes"


def run_target(target: Target, seconds: float) -> tuple[int, BaseException | None, bytes | None]:
    deadline = time.monotonic() + seconds
    examples = 0
    failing: list[bytes] = []

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
    )
    @given(payloads(target))
    def one(payload: bytes) -> None:
        nonlocal examples
        examples += 1
        failing[:] = [payload]
        check(parse(target, payload))
        if target.in_part:
            check_in_part(target, payload)

    while time.monotonic() < deadline:
        try:
            one()
        except Exception as exc:  # a crash or a broken promise: keep the shrunk input
            return examples, exc, failing[0] if failing else None
    return examples, None, None


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 60.0
    all_targets = targets()
    share = seconds / len(all_targets)
    total = 0
    for target in all_targets:
        examples, problem, payload = run_target(target, share)
        total += examples
        print(f"{target.name:<36} {examples:>7} inputs  {'FAILED' if problem else 'ok'}")
        if problem is not None:
            CRASHES.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha256(payload or b"").hexdigest()[:16]
            path = CRASHES / f"{target.fmt}-{target.report or 'bundle'}-{name}.bin"
            path.write_bytes(payload or b"")
            print(f"  input kept in {path}")
            traceback.print_exception(problem)
            return 1
    print(f"{total} inputs in {seconds:.0f} s: no crash, every batch kept its promises")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
