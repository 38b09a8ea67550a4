"""A school's uploads of one report apply in the order they arrived, whatever order
their runs reach the LA's lock: with several workers, an older file parsed more slowly
than a newer one (both taken at once) would otherwise be applied last, and the
directory would go back a day."""

from __future__ import annotations

from datetime import date

from rollsync.directory import models as m
from rollsync.directory.services.sync import sync_run_execute
from tests.directory.helpers import pupil
from tests.tasks.helpers import state, store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
CLASS = [
    pupil(f"2{n:03d}", f"Pupil{chr(65 + n)}", "Hart", f"2016-04-{n + 1:02d}") for n in range(18)
]
BEA = pupil("1002", "Bea", "Lund", "2016-02-03")
CARA = pupil("1003", "Cara", "Moss", "2016-03-04")


def test_an_older_upload_reaching_the_lock_after_a_newer_one_is_superseded(
    school: m.School,
) -> None:
    assert sync_run_execute(upload=store(school, [*CLASS, BEA]), as_of=DAY1).status == "applied"
    monday = store(school, [*CLASS, BEA])
    tuesday = store(school, [*CLASS, CARA])  # Bea left, Cara started
    tuesday_run = sync_run_execute(upload=tuesday, as_of=DAY2)
    assert tuesday_run.status == "applied"
    before = state()

    late = sync_run_execute(upload=monday, as_of=DAY2)

    assert late.status == "superseded"
    after = state()
    assert after.pop("runs")[-1] == {"pk": late.pk, "status": "superseded", "approved_by": ""}
    assert after.pop("uploads")[1:] == [
        {"pk": monday.pk, "outcome": "superseded"},
        {"pk": tuesday.pk, "outcome": "applied"},
    ]
    before.pop("runs"), before.pop("uploads")
    del after["audit"], before["audit"]
    assert after == before  # Cara kept, Bea not brought back
    assert late.errors == [
        {
            "row": None,
            "field": None,
            "message": f"Not applied: upload {tuesday.pk} of the same report, received after"
            f" this one, was applied first (run {tuesday_run.pk}); this older file would have"
            " taken the school back to it.",
            "source": "notice",
        }
    ]
    event = m.AuditEvent.objects.get(action="run_superseded")
    assert (event.run_id, event.school_id, event.changes) == (
        late.pk,
        school.pk,
        {"status": [None, "superseded"], "overtaken_by": tuesday_run.pk},
    )


def test_a_dry_run_of_the_older_upload_still_previews_and_another_report_is_not_overtaken(
    school: m.School,
) -> None:
    assert sync_run_execute(upload=store(school, [*CLASS, BEA]), as_of=DAY1).status == "applied"
    monday = store(school, [*CLASS, BEA])
    monday_staff = store(school, [pupil("S1", "Dee", "Ash", "1980-01-01")], report="staff")
    assert sync_run_execute(upload=store(school, [*CLASS, CARA]), as_of=DAY2).status == "applied"

    preview = sync_run_execute(upload=monday, as_of=DAY2, dry_run=True)
    assert (preview.status, preview.counts["restored"], preview.counts["unallocated"]) == (
        "preview",
        1,
        1,
    )
    # Staff is another report: a newer Students file does not overtake it.
    assert sync_run_execute(upload=monday_staff, as_of=DAY2).status == "applied"
    assert not m.AuditEvent.objects.filter(action="run_superseded").exists()
