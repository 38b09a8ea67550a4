"""Issue 13 point 1: a night's OneRoster (or SDS) bundle that differs from the last applied one in
a few rows is read and planned in part (only the people whose rows changed), when the
directory still stands on that run's plan; its run must do exactly what a full plan
would. The full plan is a dry run of the same bytes (a dry run always reads in full),
made first on the same directory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from rollsync import ingest
from rollsync.directory import models as m
from rollsync.directory.services.accounts import exclusion_add
from rollsync.directory.services.schools import school_add, school_policy_set
from rollsync.directory.services.sync import sync_run_approve, sync_run_execute
from rollsync.directory.services.uploads import upload_store
from rollsync.domain.reports import CATALOGUE
from tests.directory.helpers import Compared, csv_upload, pupil, simulated_bundle
from tests.zips import members_of, zip_members


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """How each upload was read: "full" or "part" (with the people built; "unlisted"
    when no listing of the earlier upload was kept, so its users' rows were all read)."""
    seen: list[str] = []
    full, part = ingest.parse_upload, ingest.parse_changed

    def counted_full(payload: bytes, **kw: Any) -> Any:
        seen.append("full")
        return full(payload, **kw)

    def counted_part(earlier: bytes, payload: bytes, **kw: Any) -> Any:
        batch = part(earlier, payload, **kw)
        how = "full?" if batch is None else f"part {len(batch.people)}"
        seen.append(how if kw.get("listing") else f"{how} unlisted")
        return batch

    monkeypatch.setattr(ingest, "parse_upload", counted_full)
    monkeypatch.setattr(ingest, "parse_changed", counted_part)
    yield seen


class Bundle:
    """A simulated school's OneRoster bundle, edited line by line."""

    def __init__(self, payload: bytes) -> None:
        self.members = members_of(payload)

    def payload(self) -> bytes:
        return zip_members(self.members)

    def lines(self, name: str) -> list[bytes]:
        return self.members[name].splitlines(keepends=True)

    def column(self, name: str, column: str) -> int:
        header = self.lines(name)[0].decode().rstrip("\r\n").split(",")
        return [c.strip().lower() for c in header].index(column.lower())

    def pupils(self) -> list[str]:
        at = self.column("roles.csv", "userSourcedId")
        return [
            line.split(b",")[at].decode()
            for line in self.lines("roles.csv")
            if b",student," in line
        ]

    def set_cell(self, name: str, user: str, column: str, value: str) -> None:
        at = self.column(name, column)
        lines = self.lines(name)
        for i, line in enumerate(lines):
            cells = line.split(b",")
            if i and cells[0] == user.encode():
                cells[at] = value.encode()
                lines[i] = b",".join(cells)
                if not lines[i].endswith(b"\n"):
                    lines[i] += b"\r\n"
        self.members[name] = b"".join(lines)

    def move_class(self, user: str) -> tuple[str, str]:
        """Take the user out of their last class and put them in another: (the class
        left, the class joined)."""
        lines = self.lines("enrollments.csv")
        theirs = [n for n, line in enumerate(lines) if line.split(b",")[5] == user.encode()]
        cells = lines[theirs[-1]].split(b",")
        left = cells[3]
        joined = min(
            {line.split(b",")[3] for line in lines[1:]} - {lines[n].split(b",")[3] for n in theirs}
        )
        cells[0], cells[3] = joined + b"-" + user.encode(), joined
        lines[theirs[-1]] = b",".join(cells)
        self.members["enrollments.csv"] = b"".join(lines)
        return left.decode(), joined.decode()

    def drop_user(self, user: str) -> None:
        for name, column in (
            ("users.csv", "sourcedId"),
            ("roles.csv", "userSourcedId"),
            ("demographics.csv", "sourcedId"),
            ("enrollments.csv", "userSourcedId"),
        ):
            at = self.column(name, column)
            kept = [
                line
                for i, line in enumerate(self.lines(name))
                if i == 0 or line.split(b",")[at] != user.encode()
            ]
            self.members[name] = b"".join(kept)


@pytest.fixture
def simulated(db: Any, tmp_path: Path) -> tuple[m.School, Bundle, date]:
    school, payload, day = simulated_bundle(tmp_path)
    return school, Bundle(payload), day


def _run(
    school: m.School,
    payload: bytes,
    day: date,
    *,
    fmt: str = "oneroster",
    report: str = "",
    **kw: Any,
) -> m.SyncRun:
    stored = upload_store(school=school, payload=payload, fmt=fmt, report=report, source="test")
    return sync_run_execute(upload=stored, as_of=day, **kw)


def _quiet(action: dict[str, Any]) -> bool:
    return action["kind"] == "unchanged" and not action.get("changes")


def _as_a_full_plan(
    school: m.School, payload: bytes, day: date, *, fmt: str = "oneroster", report: str = ""
) -> m.SyncRun:
    """The run of `payload`, checked against a full plan of it (a dry run first)."""
    preview = _run(school, payload, day, fmt=fmt, report=report, dry_run=True)
    assert preview.status == "preview"
    real = _run(school, payload, day, fmt=fmt, report=report)
    assert real.status == "applied", (real.status, real.errors, real.holds)
    assert real.counts == preview.counts
    assert real.errors == preview.errors
    assert real.holds == preview.holds
    assert [a for a in real.actions if not _quiet(a)] == [
        a for a in preview.actions if not _quiet(a)
    ]
    return real


def test_a_night_with_a_few_changes_is_read_in_part_and_does_what_a_full_plan_does(
    simulated: tuple[m.School, Bundle, date], reads: list[str]
) -> None:
    school, bundle, day = simulated
    first = _run(school, bundle.payload(), day)
    assert first.status == "applied" and reads == ["full"]
    pupils = bundle.pupils()
    bundle.set_cell("users.csv", pupils[3], "familyName", "Renamed")
    bundle.drop_user(pupils[5])
    reads.clear()
    night = _as_a_full_plan(school, bundle.payload(), day + timedelta(days=1))
    assert reads[0] == "full"  # the dry run
    [how] = reads[1:]
    assert how.startswith("part ") and int(how.split()[1]) < 10, reads
    assert not how.endswith("unlisted")  # the first run's listing was kept
    # and let go once the night's was kept
    assert list(m.UploadListing.objects.values_list("upload_id", flat=True)) == [night.upload_id]
    kinds = sorted(a["kind"] for a in night.actions if not _quiet(a))
    assert kinds == ["unallocate", "update"]  # no grace period: gone at once
    assert night.counts["unchanged"] > 100


def test_who_the_latest_export_lists_after_a_night_read_in_part(
    simulated: tuple[m.School, Bundle, date], reads: list[str]
) -> None:
    # A run read in part has actions only for the people it built; the latest export
    # still lists everyone it left out (the restore warning reads it: before
    # `SyncRun.read_in_part`, restoring any of them warned "not in the latest export").
    from rollsync.directory.selectors import latest_export_listing
    from rollsync.directory.services.accounts import restore_warning

    school, bundle, day = simulated
    first = _run(school, bundle.payload(), day)
    pupils = bundle.pupils()
    bundle.set_cell("users.csv", pupils[3], "familyName", "Renamed")
    bundle.drop_user(pupils[5])
    reads.clear()
    night = _run(school, bundle.payload(), day + timedelta(days=1))
    assert night.read_in_part and not first.read_in_part
    assert reads[0].startswith("part ")
    left_out = pupils[7]
    assert left_out not in {a["mis_id"] for a in night.actions}
    assert latest_export_listing(school=school, role="pupil", mis_id=left_out) == (night, True)
    assert latest_export_listing(school=school, role="pupil", mis_id=pupils[3]) == (night, True)
    assert latest_export_listing(school=school, role="pupil", mis_id=pupils[5]) == (night, False)
    place = m.Allocation.objects.get(school=school, mis_id=left_out, role="pupil")
    assert restore_warning(allocation=place) == ""
    gone = m.Allocation.objects.get(school=school, mis_id=pupils[5], role="pupil")
    assert "not in the latest export" in restore_warning(allocation=gone)


def test_the_next_night_reads_in_part_against_a_run_read_in_part(
    simulated: tuple[m.School, Bundle, date], reads: list[str]
) -> None:
    school, bundle, day = simulated
    _run(school, bundle.payload(), day)
    pupils = bundle.pupils()
    bundle.set_cell("users.csv", pupils[3], "familyName", "Renamed")
    _as_a_full_plan(school, bundle.payload(), day + timedelta(days=1))
    bundle.set_cell("users.csv", pupils[4], "givenName", "Changed")
    reads.clear()
    _as_a_full_plan(school, bundle.payload(), day + timedelta(days=2))
    assert reads[1].startswith("part ") and not reads[1].endswith("unlisted"), reads


# What makes a night plan in full: each happens after the first import.
def _exclusion(school: m.School) -> None:
    mis_id = m.Allocation.objects.filter(school=school, role="pupil").order_by("pk")[0].mis_id
    exclusion_add(school=school, actor="admin", mis_id=mis_id)


def _policy_changed(school: m.School) -> None:
    school_policy_set(school=school, leaver_grace_days=3, actor="admin")


def _upload_purged(school: m.School) -> None:
    m.Upload.objects.filter(school=school).update(data=b"", purged_at="2026-09-01T00:00Z")


@pytest.mark.parametrize("event", [_exclusion, _policy_changed, _upload_purged])
def test_a_night_after_anything_else_changed_is_read_in_full(
    simulated: tuple[m.School, Bundle, date],
    reads: list[str],
    event: Callable[[m.School], None],
) -> None:
    school, bundle, day = simulated
    _run(school, bundle.payload(), day)
    event(school)
    bundle.set_cell("users.csv", bundle.pupils()[3], "familyName", "Renamed")
    reads.clear()
    night = _as_a_full_plan(school, bundle.payload(), day + timedelta(days=1))
    assert reads == ["full", "full"], reads
    assert night.status == "applied"


def test_a_night_through_a_door_is_read_in_part(
    simulated: tuple[m.School, Bundle, date], reads: list[str]
) -> None:
    # Found on 3 December 2026: every file through the web form or the API writes
    # `upload_received` (the school's, no account's) before its run, and any such event
    # since the run a night stands on made it read in full: no upload through a door
    # was ever read in part. Bookkeeping no plan reads no longer stops it.
    from rollsync.directory.services.uploads import upload_receive

    school, bundle, day = simulated

    def through_the_web(payload: bytes, on: date) -> m.SyncRun:
        upload, _ = upload_receive(
            school=school,
            payload=payload,
            fmt="oneroster",
            report=None,
            filename="export.zip",
            actor="admin",
            source="web",
        )
        return sync_run_execute(upload=upload, as_of=on)

    assert through_the_web(bundle.payload(), day).status == "applied"
    bundle.set_cell("users.csv", bundle.pupils()[3], "familyName", "Renamed")
    reads.clear()
    night = through_the_web(bundle.payload(), day + timedelta(days=1))
    assert night.status == "applied"
    [how] = reads
    assert how.startswith("part ") and int(how.split()[1]) < 10, reads
    assert m.AuditEvent.objects.filter(action="upload_received").count() == 2


@pytest.mark.parametrize(
    ("report", "kind", "read"),
    [
        ("", "mis_pulled", "part"),  # bookkeeping: no plan reads it
        ("", "group_created", "full"),  # a bundle's plan reads its groups
        ("", "attendance_recorded", "full"),  # and its marks
        ("", "force_run_queued", "full"),  # a person asks for a full plan
        ("students", "group_created", "part"),  # a Students file's plan reads no group
        ("students", "attendance_recorded", "part"),  # nor marks
        ("students", "contact_linked", "part"),  # nor links
        ("students", "force_run_queued", "full"),
        ("students", "school_updated", "full"),  # any other kind
    ],
)
def test_an_event_naming_the_school_alone_stops_a_read_in_part_if_the_plan_reads_it(
    db: Any, tmp_path: Path, reads: list[str], report: str, kind: str, read: str
) -> None:
    from rollsync.directory.services.audit import AuditLog
    from rollsync.simulate import make_school_truth, write_school_export

    from .helpers import simulated_school

    truth = make_school_truth(pupils=60, seed=5)
    school = simulated_school(truth)
    fmt = "csv" if report else "oneroster"
    [entry] = [
        e for e in write_school_export(truth, 1, fmt, tmp_path) if e.report == report or not report
    ]
    first = (tmp_path / entry.path).read_bytes()
    assert _run(school, first, truth.date, fmt=fmt, report=report).status == "applied"
    audit = AuditLog(actor="test", school=school)
    audit.add(kind, "an event of the school alone")
    audit.flush()
    if fmt == "csv":
        lines = first.splitlines(keepends=True)
        lines[3] = lines[3].replace(b",", b",X", 1)  # a pupil's given name changed
        night = b"".join(lines)
    else:
        bundle = Bundle(first)
        bundle.set_cell("users.csv", bundle.pupils()[3], "familyName", "Renamed")
        night = bundle.payload()
    reads.clear()
    done = _as_a_full_plan(school, night, truth.date + timedelta(days=1), fmt=fmt, report=report)
    assert done.status == "applied"
    assert reads[0] == "full"  # the dry run
    [how] = reads[1:]
    assert how.split()[0] == read, reads


def test_a_night_in_another_format_is_read_in_full(
    db: Any, tmp_path: Path, reads: list[str]
) -> None:
    # A school that moves from a OneRoster export to an SDS one: the first SDS night is
    # read in full (the reader is never handed another format's upload and listing),
    # the next one in part against it, from its listing.
    from rollsync.simulate import make_school_truth, write_school_export

    from .helpers import simulated_school

    truth = make_school_truth(pupils=60, seed=5)
    school = simulated_school(truth)
    exports = {
        fmt: (tmp_path / fmt / entry.path).read_bytes()
        for fmt in ("oneroster", "sds")
        for entry in write_school_export(truth, 1, fmt, tmp_path / fmt)
    }
    assert _run(school, exports["oneroster"], truth.date).status == "applied"
    reads.clear()
    night = _run(school, exports["sds"], truth.date + timedelta(days=1), fmt="sds")
    assert night.status == "applied" and reads == ["full"], reads
    sds = Bundle(exports["sds"])
    sds.set_cell("users.csv", sds.pupils()[3], "familyName", "Renamed")
    reads.clear()
    again = _as_a_full_plan(school, sds.payload(), truth.date + timedelta(days=2), fmt="sds")
    assert reads[0] == "full"  # the dry run
    [how] = reads[1:]  # the pupil and their contacts built, from the first night's listing
    assert how.startswith("part ") and not how.endswith(" unlisted") and int(how.split()[1]) < 8
    assert [a["kind"] for a in again.actions if not _quiet(a)] == ["update"]


def test_a_leaver_in_their_grace_period_is_read_in_part(
    simulated: tuple[m.School, Bundle, date], reads: list[str]
) -> None:
    school, bundle, day = simulated
    school_policy_set(school=school, leaver_grace_days=30, actor="admin")
    _run(school, bundle.payload(), day)
    pupils = bundle.pupils()
    bundle.drop_user(pupils[5])
    _as_a_full_plan(school, bundle.payload(), day + timedelta(days=1))
    bundle.set_cell("users.csv", pupils[3], "familyName", "Renamed")
    reads.clear()
    night = _as_a_full_plan(school, bundle.payload(), day + timedelta(days=2))
    assert reads[1].startswith("part "), reads
    assert sorted(a["kind"] for a in night.actions if not _quiet(a)) == ["mark_leaver", "update"]


@pytest.mark.parametrize("seen_before_parsing", [True, False])
def test_a_pupil_still_waiting_to_be_matched_is_read_and_planned_again(
    simulated: tuple[m.School, Bundle, date],
    reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
    seen_before_parsing: bool,
) -> None:
    # A local school already holds a pupil of the same name and date of birth under
    # another MIS ID: the first import asks a person, and the pupil has no account here.
    # Their rows do not change, but a full plan asks again: they are built at once (their
    # open case, `settled.likely_unsafe_ids`), or, if that missed them, the planner's
    # rule does (`planning.unsafe_unchanged`) and the upload is read again with them.
    school, bundle, day = simulated
    waiting = bundle.pupils()[7]
    users, demographics = bundle.lines("users.csv"), bundle.lines("demographics.csv")
    [row] = [line for line in users if line.startswith(waiting.encode() + b",")]
    [born] = [line for line in demographics if line.startswith(waiting.encode() + b",")]
    given = row.split(b",")[bundle.column("users.csv", "givenName")].decode()
    family = row.split(b",")[bundle.column("users.csv", "familyName")].decode()
    dob = born.split(b",")[bundle.column("demographics.csv", "birthDate")].decode()
    local = school_add(
        urn="199999", la_code=school.la.code, estab="2999", name="Local", actor="test"
    )
    held = sync_run_execute(
        upload=csv_upload(local, [pupil("LOCAL1", given, family, dob)]), as_of=day
    )
    assert held.status == "applied"
    first = _run(school, bundle.payload(), day)
    assert first.counts["needs_matching"] == 1, first.counts
    bundle.set_cell("users.csv", bundle.pupils()[3], "familyName", "Renamed")
    if not seen_before_parsing:
        from rollsync.directory.services import settled

        monkeypatch.setattr(settled, "likely_unsafe_ids", lambda **_: frozenset())
    reads.clear()
    night = _as_a_full_plan(school, bundle.payload(), day + timedelta(days=1))
    if seen_before_parsing:
        assert reads[0] == "full" and len(reads) == 2, reads  # the dry run, then one read
    else:
        assert reads[0] == "full" and len(reads) == 3, reads  # read again, with them
        assert int(reads[1].split()[1]) < int(reads[2].split()[1]), reads
    assert 2 <= int(reads[-1].split()[1]) < 20, reads
    [asked] = [a for a in night.actions if a["kind"] == "needs_matching"]
    assert asked["mis_id"] == waiting


@pytest.mark.parametrize("fmt", ["oneroster", "sds", "csv", "ctf"])
def test_a_simulated_la_night_by_night_does_what_full_plans_do(
    db: Any,
    tmp_path: Path,
    reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
    compare_every_plan: Compared,
    fmt: str,
) -> None:
    # Every school of a small simulated LA sends its bundle each day (starters,
    # leavers, movers between its schools, name changes, shared contacts, typos fixed):
    # each night's run, read in part where it may be, against a dry run of the same bytes,
    # and each plan against a plan of the whole school's snapshot (every membership).
    import json

    from rollsync.directory.services import settled

    touched: list[int] = []  # people built because another run wrote to their accounts
    candidate = settled.partial_candidate

    def counted(*, run: m.SyncRun, standing: m.SyncRun | None, **kw: Any) -> Any:
        found = candidate(run=run, standing=standing, **kw)
        if found is not None:
            touched.append(len(found[1]))
        return found

    monkeypatch.setattr(settled, "partial_candidate", counted)

    from rollsync.simulate import Realism, simulate_region, write_school_export
    from rollsync.simulate.mis_data import load_snapshot

    days = 6
    simulate_region(
        tmp_path / "la",
        schools=4,
        seed=21,
        days=days,
        mis_data=True,
        realism=Realism(
            scale=0.08,
            pupil_starter_rate=0.01,
            pupil_leaver_rate=0.01,
            mover_rate=0.004,
            pupil_surname_change_rate=0.005,
            staff_surname_change_rate=0.01,
            preferred_change_rate=0.005,
            hard_cases=True,
        ),
    )
    la = json.loads((tmp_path / "la" / "la.json").read_text())
    schools = {
        s["urn"]: school_add(
            urn=s["urn"],
            la_code=s["la_code"],
            estab=s["estab"],
            name=s["name"],
            accept_reports=tuple(CATALOGUE),
            actor="test",
        )
        for s in la["schools"]
    }
    for day in range(1, days + 1):
        for urn, school in schools.items():
            folder = tmp_path / "la" / f"day-{day:02d}" / urn
            snap = load_snapshot((folder / "mis-data.json").read_bytes())
            # A rollsync-CSV school sends one file per report (its Students and Staff
            # files read in part); a bundle is one file.
            for entry in write_school_export(snap, day, fmt, tmp_path / "out" / urn):
                payload = (tmp_path / "out" / urn / entry.path).read_bytes()
                report = entry.report if fmt == "csv" else ""
                preview = _run(school, payload, snap.date, fmt=fmt, report=report, dry_run=True)
                real = _run(school, payload, snap.date, fmt=fmt, report=report)
                if real.status == "held":  # the guard: a person approves, as a school would
                    assert preview.holds == real.holds
                    # (Left held, every later file of the school would wait for it, and
                    # its nights would test nothing: seeds 22-27 held most of theirs.)
                    approved = sync_run_approve(run=real, actor="test")
                    assert approved.status == "applied", (approved.status, approved.errors)
                    continue
                if real.status == "failed":
                    # A file of one report whose every row names nobody known, refused
                    # (decision 0062): attendance; or, on the day a school's MIS changes,
                    # Groups & Classes sent before the Students file that re-keys its
                    # pupils (files go in name order here; seed 42, day 8).
                    assert (preview.status, preview.errors) == ("failed", real.errors), (
                        report,
                        real.errors,
                        real.detail[-3000:],
                    )
                    assert report in ("attendance", "groups"), (report, real.errors)
                    refusal = real.errors[-1]["message"]
                    assert refusal.startswith("All "), refusal
                    assert "rows were rejected, so nothing was applied" in refusal, refusal
                    continue
                assert real.status == "applied", (real.status, report, real.errors)
                assert real.counts == preview.counts, (day, urn, report)
                errors = real.errors
                if real.same_as_id is not None:  # an unchanged file skipped: it says so
                    assert errors[-1]["message"].startswith("same file as run "), errors
                    errors = errors[:-1]
                assert errors == preview.errors, (day, urn, report)
                assert [a for a in real.actions if not _quiet(a)] == [
                    a for a in preview.actions if not _quiet(a)
                ], (day, urn, report)
    in_part = [how for how in reads if how.startswith("part ")]
    assert len(in_part) >= 10, reads
    if fmt not in ("csv", "ctf"):  # a Students or Staff file, or a CTF, has no memberships
        # Each read in part that left someone out read fewer memberships. (Seed 42's
        # SDS school on the day its MIS changed: every line differed, the read in part
        # built everyone, and no plan could read fewer.)
        assert compare_every_plan.fewer_memberships == compare_every_plan.leaving_out, reads
        assert compare_every_plan.leaving_out >= 10, reads
    assert sum(1 for n in touched if n) >= 5, touched  # nights that built touched people
    if fmt == "csv":  # Groups & Classes and Contacts files read in part too
        # (15 and 5 of 24 nights: a Contacts file with rejected rows and leavers is held
        # on 12 of them, and an approved run is planned again in full.)
        for report, at_least in (("groups", 8), ("contacts", 4)):
            runs = m.SyncRun.objects.filter(upload__report=report, read_in_part=True)
            assert runs.count() >= at_least, (report, runs.count())


def test_a_read_in_part_against_a_run_another_night_overtook_is_planned_in_full(
    simulated: tuple[m.School, Bundle, date], reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two nights' bundles taken at once: both read in part against night 1 outside the
    # lock; night 2 applies first. Under the lock, night 3 finds night 1 is no longer
    # the last applied run, and is parsed and planned in full.
    from rollsync.directory.services import settled

    school, bundle, day = simulated
    first = _run(school, bundle.payload(), day)
    pupils = bundle.pupils()
    family = m.Allocation.objects.get(school=school, mis_id=pupils[3]).account.legal_family_name
    bundle.set_cell("users.csv", pupils[3], "familyName", "Renamed")
    night2 = bundle.payload()
    # Night 3 puts pupil 3's name back as night 1 had it, and renames pupil 4.
    bundle.set_cell("users.csv", pupils[3], "familyName", family)
    bundle.set_cell("users.csv", pupils[4], "familyName", "Other")
    night3 = bundle.payload()
    real = settled.partial_candidate

    def as_if_taken_at_once(*, run: m.SyncRun, standing: m.SyncRun | None) -> Any:
        found = real(run=run, standing=standing)
        if run.upload.sha256 == stored3.sha256:
            assert found is not None
            sync_run_execute(upload=stored2, as_of=day + timedelta(days=1))  # meanwhile
            return (m.SyncRun.objects.get(pk=first.pk), found[1])
        return found

    stored2 = upload_store(school=school, payload=night2, fmt="oneroster", source="test")
    stored3 = upload_store(school=school, payload=night3, fmt="oneroster", source="test")
    monkeypatch.setattr(settled, "partial_candidate", as_if_taken_at_once)
    reads.clear()
    done = sync_run_execute(upload=stored3, as_of=day + timedelta(days=2))
    assert done.status == "applied", done.errors
    # Night 3 read in part (against night 1), then night 2 read in part and applied,
    # then night 3 in full under the lock.
    assert [how.split()[0] for how in reads] == ["part", "part", "full"], reads
    renamed = {
        a.mis_id: a.account.legal_family_name
        for a in m.Allocation.objects.filter(school=school, mis_id__in=pupils[3:5])
    }
    assert renamed == {pupils[3]: family, pupils[4]: "Other"}


def test_a_night_after_a_skipped_upload_reads_in_part_from_the_planned_runs_listing(
    simulated: tuple[m.School, Bundle, date], reads: list[str]
) -> None:
    # Night 2 sends night 1's bytes again (skipped: no parse, no listing of its own);
    # night 3 stands on night 2's run and reads in part from night 1's listing.
    school, bundle, day = simulated
    payload = bundle.payload()  # once: a zip made again may hold another time
    _run(school, payload, day)
    again = _run(school, payload, day + timedelta(days=1))
    assert again.same_as_id is not None
    assert not m.UploadListing.objects.filter(upload=again.upload).exists()
    bundle.set_cell("users.csv", bundle.pupils()[3], "familyName", "Renamed")
    reads.clear()
    _as_a_full_plan(school, bundle.payload(), day + timedelta(days=2))
    assert reads[0] == "full" and reads[1].startswith("part "), reads
    assert not reads[1].endswith("unlisted"), reads


def test_a_force_run_keeps_one_listing_of_its_upload(
    simulated: tuple[m.School, Bundle, date],
) -> None:
    # A second run of the same upload (Force run: read and planned in full) writes the
    # listing again over the first: one row, the same bytes.
    school, bundle, day = simulated
    first = _run(school, bundle.payload(), day)
    kept = bytes(m.UploadListing.objects.get(upload=first.upload).data)
    again = sync_run_execute(upload=first.upload, as_of=day)
    assert again.status == "applied" and again.pk != first.pk
    assert list(m.UploadListing.objects.values_list("upload_id", flat=True)) == [first.upload_id]
    assert bytes(m.UploadListing.objects.get(upload=first.upload).data) == kept


@pytest.mark.parametrize("where", ["this school", "another school", "no school"])
def test_a_pupil_whose_account_an_event_named_since_is_built(
    simulated: tuple[m.School, Bundle, date], built: list[set[str]], where: str
) -> None:
    # After the first run, an event names one pupil's account (at this school, at
    # another, or at none): the next night, read in part, builds that pupil although
    # their rows did not change, and leaves out the others whose rows did not change.
    from rollsync.directory.services.audit import AuditLog

    school, bundle, day = simulated
    _run(school, bundle.payload(), day)
    pupils = bundle.pupils()
    touched = m.Allocation.objects.get(school=school, mis_id=pupils[7])
    other = school_add(urn="199998", la_code=school.la.code, estab="2998", name="Other", actor="t")
    log = AuditLog(actor="test", school={"this school": school, "another school": other}.get(where))
    log.add("account_updated", "a change elsewhere", account_id=touched.account_id)
    log.flush()
    bundle.set_cell("users.csv", pupils[3], "familyName", "Renamed")
    _as_a_full_plan(school, bundle.payload(), day + timedelta(days=1))
    assert built and {pupils[3], pupils[7]} <= built[-1], built
    assert not set(pupils[8:20]) & built[-1]


def test_the_same_bundle_after_an_event_naming_a_pupil_builds_their_family_alone(
    simulated: tuple[m.School, Bundle, date], reads: list[str], built: list[set[str]]
) -> None:
    # Decision 0105: the same bytes again, but an event since names one pupil's account,
    # so the skip does not hold. The bundle was parsed and planned in full; it is read in
    # part against the same run (no line differs), building that pupil and their family
    # alone.
    from rollsync.directory.services.audit import AuditLog

    school, bundle, day = simulated
    first = _run(school, bundle.payload(), day)
    pupils = bundle.pupils()
    touched = m.Allocation.objects.get(school=school, mis_id=pupils[7])
    log = AuditLog(actor="test", school=school)
    log.add("account_updated", "a person's edit", account_id=touched.account_id)
    log.flush()
    reads.clear()
    real = _as_a_full_plan(school, bundle.payload(), day)
    assert real.same_as_id is None and real.read_in_part
    # The dry run's, then the run's: that pupil and the family their links join.
    assert len(built) == 1 and reads == ["full", f"part {len(built[0])}"], reads
    assert pupils[7] in built[0] and len(built[0]) < 8, built
    # With nothing since, the same bytes skip again: nothing read.
    reads.clear()
    assert _run(school, bundle.payload(), day).same_as_id == real.pk != first.pk
    assert reads == []


def test_a_night_read_in_part_shows_the_staff_kept_as_non_mis(
    simulated: tuple[m.School, Bundle, date], reads: list[str]
) -> None:
    # A member of staff leaves, and a person keeps their account as non-MIS. The next
    # night, read in part, renames a pupil: its actions are that pupil's family alone,
    # yet its export still lists staff, so the run shows the account it left alone
    # (decision 0105; before, the roles were read from the run's actions: none shown).
    from rollsync.directory import selectors
    from rollsync.directory.services.accounts import account_restore

    school, bundle, day = simulated
    school_policy_set(school=school, actor="admin", guard_unallocate_pct=100)
    _run(school, bundle.payload(), day)
    at = bundle.column("roles.csv", "userSourcedId")
    staff = [
        line.split(b",")[at].decode()
        for line in bundle.lines("roles.csv")
        if b",teacher," in line or b",staff," in line
    ]
    assert staff, "the simulated school has staff"
    bundle.drop_user(staff[0])
    gone = _run(school, bundle.payload(), day + timedelta(days=1))
    assert gone.counts["unallocated"] == 1
    leaver = m.Allocation.objects.get(school=school, mis_id=staff[0])
    account_restore(
        username=leaver.account.username, school=school, actor="ms.head", keep_non_mis=True
    )
    pupils = bundle.pupils()
    bundle.set_cell("users.csv", pupils[2], "familyName", "Renamed")
    reads.clear()
    night = _as_a_full_plan(school, bundle.payload(), day + timedelta(days=2))
    assert night.read_in_part and reads[-1].startswith("part "), reads
    assert {a["role"] for a in night.actions} <= {"pupil", "contact"}
    kept = selectors.kept_non_mis_for_run(run=night)
    assert [place.account_id for place, _ in kept] == [leaver.account_id]


def test_only_the_listing_a_night_may_stand_on_is_kept(
    simulated: tuple[m.School, Bundle, date],
) -> None:
    # Each applied night keeps its upload's listing and lets go of the earlier nights';
    # a skipped night keeps none of its own, so the planned run's stays; a listing of
    # another school is not touched.
    school, bundle, day = simulated
    other = school_add(urn="199997", la_code=school.la.code, estab="2997", name="O", actor="t")
    elsewhere = upload_store(school=other, payload=b"x", fmt="oneroster", source="test")
    m.UploadListing.objects.create(upload=elsewhere, data=b"theirs")

    def kept() -> list[int]:
        return sorted(m.UploadListing.objects.values_list("upload_id", flat=True))

    first = _run(school, bundle.payload(), day)
    assert kept() == sorted([elsewhere.pk, first.upload_id])
    bundle.set_cell("users.csv", bundle.pupils()[3], "familyName", "Renamed")
    payload = bundle.payload()
    second = _run(school, payload, day + timedelta(days=1))
    assert kept() == sorted([elsewhere.pk, second.upload_id])
    skipped = _run(school, payload, day + timedelta(days=2))
    assert skipped.same_as_id == second.pk
    assert kept() == sorted([elsewhere.pk, second.upload_id])
    preview = _run(school, bundle.payload(), day + timedelta(days=3), dry_run=True)
    assert preview.status == "preview"
    assert kept() == sorted([elsewhere.pk, second.upload_id])


def test_a_night_reads_only_the_groups_its_changes_name(
    simulated: tuple[m.School, Bundle, date], reads: list[str]
) -> None:
    from django.db.models.signals import post_init

    school, bundle, day = simulated
    _run(school, bundle.payload(), day)
    left, joined = bundle.move_class(bundle.pupils()[7])
    loaded: list[str] = []

    def seen(sender: Any, instance: m.Group, **kwargs: Any) -> None:
        loaded.append(instance.mis_id)

    post_init.connect(seen, sender=m.Group)
    try:
        night = _run(school, bundle.payload(), day + timedelta(days=1))
    finally:
        post_init.disconnect(seen, sender=m.Group)
    assert night.status == "applied" and reads[-1].startswith("part ")
    assert sorted(loaded) == sorted([left, joined])
    assert m.Group.objects.filter(school=school).count() > 20


def test_a_night_looks_up_only_the_places_its_relations_name(
    simulated: tuple[m.School, Bundle, date], reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applying a night's memberships finds the accounts of the MIS IDs they name, not
    every place of the school (`_PlanApplier.account_by_mis`): the pupil moved between
    classes is the one place read."""
    from rollsync.directory import selectors

    school, bundle, day = simulated
    _run(school, bundle.payload(), day)
    moved = bundle.pupils()[7]
    bundle.move_class(moved)
    asked: list[tuple[set[str], list[Any]]] = []
    named_or_all = selectors.named_or_all

    def counted(qs: Any, names: set[str], *, field: str) -> Any:
        rows = list(named_or_all(qs, names, field=field))
        if qs.model is m.Allocation:
            asked.append((set(names), rows))
        return rows

    monkeypatch.setattr(selectors, "named_or_all", counted)
    night = _run(school, bundle.payload(), day + timedelta(days=1))
    assert night.status == "applied" and reads[-1].startswith("part ")
    ((names, rows),) = asked
    assert names == {moved}
    placed = m.Allocation.objects.get(school=school, mis_id=moved)
    assert rows == [("pupil", moved, placed.account_id)]
    assert m.Allocation.objects.filter(school=school).count() > 100


def test_a_class_emptied_one_night_and_dropped_the_next_is_ended(
    simulated: tuple[m.School, Bundle, date],
) -> None:
    # The second night's plan names the class only as a group gone: none of its
    # memberships is still open to name it.
    school, bundle, day = simulated
    _run(school, bundle.payload(), day)
    lines = bundle.lines("enrollments.csv")
    sizes = Counter(line.split(b",")[3] for line in lines[1:])
    emptied = min(sizes, key=lambda c: (sizes[c], c))
    bundle.members["enrollments.csv"] = b"".join(
        line for n, line in enumerate(lines) if n == 0 or line.split(b",")[3] != emptied
    )
    _run(school, bundle.payload(), day + timedelta(days=1))
    group = m.Group.objects.get(school=school, mis_id=emptied.decode())
    assert group.ended_at is None
    assert not group.memberships.filter(ended_at__isnull=True).exists()
    bundle.members["classes.csv"] = b"".join(
        line for line in bundle.lines("classes.csv") if line.split(b",")[0] != emptied
    )
    night = _run(school, bundle.payload(), day + timedelta(days=2))
    assert night.status == "applied"
    group.refresh_from_db()
    assert group.ended_at is not None
    assert m.Group.objects.filter(school=school, ended_at__isnull=False).count() == 1


def test_a_class_renamed_keeps_its_group_and_members(
    simulated: tuple[m.School, Bundle, date],
) -> None:
    school, bundle, day = simulated
    _run(school, bundle.payload(), day)
    lines = bundle.lines("classes.csv")
    cells = lines[1].split(b",")
    renamed, cells[3] = cells[0].decode(), b"Renamed"
    lines[1] = b",".join(cells)
    bundle.members["classes.csv"] = b"".join(lines)
    group = m.Group.objects.get(school=school, mis_id=renamed)
    members = set(group.memberships.values_list("pk", "ended_at"))
    night = _run(school, bundle.payload(), day + timedelta(days=1))
    assert night.status == "applied"
    assert m.Group.objects.get(pk=group.pk).name == "Renamed"
    assert m.Group.objects.filter(school=school, mis_id=renamed).count() == 1
    assert set(group.memberships.values_list("pk", "ended_at")) == members
