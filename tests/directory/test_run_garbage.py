"""A sync run frees what it makes by reference counting alone: it makes no reference
cycles, so the cycle collector rests during a run (`sync._no_collections`) without the
run's memory growing. Were a change to make cycles per record, this fails: the
collector would then be needed during a run."""

from __future__ import annotations

import gc
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.sync import sync_run_execute
from rollsync.directory.services.uploads import upload_store
from tests.directory.helpers import simulated_bundle
from tests.zips import members_of, zip_members

pytestmark = pytest.mark.django_db

# A few objects of the framework's own (a cached query's parts, a logging record) may
# form a cycle once; per record would be hundreds here.
FEW = 60


def _cycles_left_by(run: Callable[[], Any]) -> int:
    """The objects in reference cycles that `run` left unreachable (the collector off
    while it runs, as it is during a sync run)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        run()
        return gc.collect()
    finally:
        if was_enabled:
            gc.enable()


def _renamed(payload: bytes, old: bytes, new: bytes) -> bytes:
    members = members_of(payload)
    members["users.csv"] = members["users.csv"].replace(old, new, 1)
    return zip_members(members)


def _run(school: m.School, payload: bytes, day: Any) -> m.SyncRun:
    upload = upload_store(school=school, payload=payload, fmt="oneroster", report="", source="test")
    return sync_run_execute(upload=upload, as_of=day, actor="test")


def test_runs_leave_no_cycles_and_the_collector_as_it_was(tmp_path: Path) -> None:
    school, payload, day = simulated_bundle(tmp_path, pupils=200)
    family = _family_name(payload)
    runs: list[m.SyncRun] = []
    for bundle in (
        payload,  # a first import: every record new
        _renamed(
            payload, b"," + family + b",", b"," + family + b"-Reid,"
        ),  # a night with one rename
        b"PK\x03\x04 cut short",  # refused: the run fails with a clear error
    ):
        left = _cycles_left_by(lambda b=bundle: runs.append(_run(school, b, day)))
        assert left <= FEW
        assert gc.isenabled()
    assert [r.status for r in runs] == [
        m.SyncRun.Status.APPLIED,
        m.SyncRun.Status.APPLIED,
        m.SyncRun.Status.FAILED,
    ]
    assert m.Account.objects.filter(legal_family_name=family.decode() + "-Reid").count() == 1


def test_a_run_leaves_the_collector_off_when_it_was_off(tmp_path: Path) -> None:
    school, payload, day = simulated_bundle(tmp_path, pupils=20)
    gc.disable()
    try:
        assert _run(school, payload, day).status == m.SyncRun.Status.APPLIED
        assert not gc.isenabled()
    finally:
        gc.enable()


def _family_name(payload: bytes) -> bytes:
    """The family name on users.csv's first row, as written."""
    with zipfile.ZipFile(io.BytesIO(payload)) as z:
        lines = z.read("users.csv").splitlines()
    header = [cell.strip().lower() for cell in lines[0].split(b",")]
    return lines[1].split(b",")[header.index(b"familyname")]
