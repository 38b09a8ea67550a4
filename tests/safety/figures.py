"""Reproduce issue 7's figures for a full-size school on today's code (not a test):

    DATABASE_URL=sqlite:///:memory: .venv/bin/python -m tests.safety.figures

A primary of about 392 pupils gets its day 1 rollsync CSVs, then students.csv and
staff.csv cut inside a row, and Groups & Classes cut short; prints what each run did.
"""

from __future__ import annotations

import os

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    django.setup()
    from django.db import transaction
    from django.test.utils import setup_databases, setup_test_environment

    setup_test_environment()
    setup_databases(verbosity=0, interactive=False)
    from tests.safety.directory import diff, load_baseline, run_upload, snapshot
    from tests.safety.exports import Upload, school_exports
    from tests.safety.make_corpus import _cut_mid_row

    ex = school_exports("csv", pupils=392)
    school = load_baseline(ex)
    before = snapshot()
    active = {
        role: sum(
            1
            for a in before["allocations"].values()
            if a["role"] == role and a["status"] == "active"
        )
        for role in ("pupil", "staff", "contact")
    }
    print(f"school {ex.urn}: active {active}")
    for report, fraction in (
        ("students", 0.75),
        ("students", 0.7451),
        ("students", 0.7535),
        ("staff", 0.6),
        ("groups", 0.5),
    ):
        body = ex.files1[f"{report}.csv"]
        cut = _cut_mid_row(body, fraction)
        with transaction.atomic():
            run = run_upload(school, Upload(report, cut, "csv", report), ex.dates[0])
            changes = diff(before, snapshot())
            transaction.set_rollback(True)
        errors = [e for e in run.errors if e.get("source") != "notice"]
        deleted = {
            t: sum(1 for c in changes if c.startswith(t) and c.endswith("deleted"))
            for t in ("groups", "memberships")
        }
        print(
            f"{report}.csv cut at byte {len(cut):,} of {len(body):,}: {run.status}, "
            f"unallocated {run.counts.get('unallocated', 0)}, errors {len(errors)}, "
            f"holds {len(run.holds)}, deleted {deleted} {errors[:1]}"
        )


if __name__ == "__main__":
    main()
