"""Where a region night's database time went, statement by statement.

    ROLLSYNC_BENCH_STATEMENTS=DIR ./dev bench region --schools 300 …
    python -m bench.statements DIR [--phase day2] [--top 20]

Sums the files the region bench's workers write (bench/region_worker.py: per process
and phase, each statement with its parameters folded to `?`, how often it ran and the
wall seconds the client waited for it) and prints the costliest first: seconds, share
of all, count, milliseconds each. The wait includes a lock's: a row lock held by the
other worker shows here as a slow `SELECT … FOR NO KEY UPDATE`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path


def totals(files: Iterable[Path]) -> dict[str, list[float]]:
    """Statement -> [times run, seconds], summed over `files`."""
    summed: dict[str, list[float]] = {}
    for path in files:
        for statement, (count, seconds) in json.loads(path.read_text()).items():
            seen = summed.setdefault(statement, [0, 0.0])
            seen[0] += count
            seen[1] += seconds
    return summed


def report(summed: dict[str, list[float]], *, top: int, width: int = 160) -> list[str]:
    everything = sum(seconds for _, seconds in summed.values()) or 1e-9
    ran = sum(int(count) for count, _ in summed.values())
    lines = [f"{everything:.1f} s in {ran:,} statements"]
    ranked = sorted(summed.items(), key=lambda item: -item[1][1])
    for statement, (count, seconds) in ranked[:top]:
        lines.append(
            f"{seconds:8.2f} s {seconds / everything:6.1%} {int(count):7,} x "
            f"{1000 * seconds / count:7.2f} ms  {' '.join(statement.split())[:width]}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--phase", default="day2", help="day1 (first load) or day2 (night)")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    files = sorted(args.folder.glob(f"*-{args.phase}.json"))
    if not files:
        raise SystemExit(f"no {args.phase} timings in {args.folder}")
    print("\n".join(report(totals(files), top=args.top)))


if __name__ == "__main__":
    main()
