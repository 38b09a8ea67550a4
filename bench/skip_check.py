"""Every skip checked against a full plan: a loaded directory's files sent again.

For each school (in id order) and each report it has an applied run of, its last applied
upload is stored again as it was and run the next day (a quiet night: no file changed),
after a dry run of the same bytes, which never skips: a full plan. A run that skipped
must be one whose full plan changes nothing. `--nights N` sends them N times.

    ./dev bench region --schools 100 --keep --database-url postgres://…/scratch
    ./dev bench skips --database-url postgres://…/scratch

Prints, per report, how many runs skipped and how many were planned, and every skip whose
full plan would have changed something (a failure: exit 1), or only counted differently
(a pupil listed with a leaving date passed, whom the run it stands on unallocated: a full
plan counts them unchanged, the skip does not).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

# What a full plan of an unchanged file may count without changing anything.
_STILL = frozenset({"unchanged", "needs_matching", "excluded", "deferred", "rejected"})


@dataclass
class Checked:
    nights: list[Counter[tuple[str, str]]] = field(default_factory=list)  # (report, outcome)
    changes_missed: list[tuple[str, str, dict[str, int]]] = field(default_factory=list)
    counted_differently: list[tuple[str, str, dict[str, int], dict[str, int]]] = field(
        default_factory=list
    )

    @property
    def runs(self) -> Counter[tuple[str, str]]:
        """Every night's runs together."""
        return sum(self.nights, Counter())


def check_skips(*, nights: int = 1) -> Checked:
    """Run the check on the configured database (Django set up)."""
    from rollsync.directory import models as m
    from rollsync.directory.services.sync import sync_run_execute
    from rollsync.directory.services.uploads import upload_store
    from rollsync.domain.reports import CATALOGUE

    order = {report: n for n, report in enumerate(CATALOGUE)}
    checked = Checked()
    for _ in range(nights):
        night: Counter[tuple[str, str]] = Counter()
        checked.nights.append(night)
        for school in m.School.objects.order_by("pk"):
            latest: dict[str, Any] = {}
            applied = m.SyncRun.objects.filter(school=school, status="applied", dry_run=False)
            for run in applied.select_related("upload").order_by("pk"):
                latest[run.upload.report] = run
            for report in sorted(latest, key=lambda r: order.get(r, -1)):
                run = latest[report]
                day = run.as_of + timedelta(days=1)

                def again(upload: Any = run.upload, school: Any = school) -> Any:
                    return upload_store(
                        school=school,
                        payload=bytes(upload.data),
                        fmt=upload.fmt,
                        report=upload.report,
                        asked=upload.asked,
                        source="bench",
                    )

                full = sync_run_execute(upload=again(), as_of=day, dry_run=True)
                done = sync_run_execute(upload=again(), as_of=day)
                skipped = done.same_as_id is not None
                label = report or "bundle"
                night[(label, "skipped" if skipped else str(done.status))] += 1
                if not skipped:
                    continue
                changing = {k: v for k, v in full.counts.items() if v and k not in _STILL}
                if changing:
                    checked.changes_missed.append((school.urn, label, changing))
                elif done.counts != full.counts:
                    checked.counted_differently.append(
                        (school.urn, label, done.counts, full.counts)
                    )
    return checked


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./dev bench skips", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a loaded directory (changed!)")
    parser.add_argument("--nights", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    import django

    django.setup()
    checked = check_skips(nights=args.nights)
    labels = sorted(checked.runs)
    print(
        f"{'report':16s} {'outcome':10s} "
        + " ".join(f"night {n + 1:2d}" for n in range(args.nights))
    )
    for report, outcome in labels:
        counts = " ".join(f"{night[(report, outcome)]:8d}" for night in checked.nights)
        print(f"{report:16s} {outcome:10s} {counts}")
    for urn, report, counts, full in checked.counted_differently:
        print(f"counted differently: {urn} {report}: skip {counts}, full plan {full}")
    for urn, report, changing in checked.changes_missed:
        print(f"CHANGES MISSED: {urn} {report}: a full plan would change {changing}")
    skips = sum(n for (_, outcome), n in checked.runs.items() if outcome == "skipped")
    print(
        f"{skips} skips checked: {len(checked.changes_missed)} missed a change, "
        f"{len(checked.counted_differently)} counted differently"
    )
    return 1 if checked.changes_missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
