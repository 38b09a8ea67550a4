"""A change of MIS (files from SIMS, then a connection to iSAMS) keeps every account: the
first pull carries new MIS IDs, re-keys people by evidence and is held for approval."""

from __future__ import annotations

from pathlib import Path

from rollsync.directory import models as m
from rollsync.directory.services.connections import connection_connect, connection_pull
from rollsync.directory.services.schools import school_mis_set
from rollsync.directory.services.sync import sync_run_approve, sync_run_execute
from rollsync.directory.services.uploads import upload_store
from rollsync.simulate import write_school_export
from tests.connections.conftest import Isams


def test_files_then_isams_keeps_every_account(isams: Isams, tmp_path: Path) -> None:
    school_mis_set(school=isams.school, mis="SIMS", actor="setup")
    for entry in write_school_export(isams.snap, 1, "csv", tmp_path):
        if entry.report not in ("students", "staff"):
            continue
        upload = upload_store(
            school=isams.school,
            payload=(tmp_path / entry.path).read_bytes(),
            fmt="csv",
            report=entry.report,
            source="test",
        )
        assert sync_run_execute(upload=upload, actor="t").status == "applied"
    accounts = dict(
        m.Allocation.objects.filter(school=isams.school).values_list("account_id", "mis_id")
    )
    assert len(accounts) == len(isams.snap.pupils) + len(isams.snap.staff)

    connection_connect(
        school=isams.school, mis="isams", settings=isams.settings, secrets=isams.secrets, actor="t"
    )
    outcome = connection_pull(school=isams.school, actor="t")
    assert outcome.status == "held"
    held = [r for r in outcome.runs if r.status == "held"]
    assert held and all(h["code"] == "rekey_share" for r in held for h in r.holds)
    # nothing changed while held
    assert (
        dict(m.Allocation.objects.filter(school=isams.school).values_list("account_id", "mis_id"))
        == accounts
    )
    for run in held:
        assert sync_run_approve(run=run, actor="head").status == "applied"
    after = dict(
        m.Allocation.objects.filter(school=isams.school, status="active").values_list(
            "account_id", "mis_id"
        )
    )
    # the same accounts, every one now keyed by the iSAMS ID
    assert set(after) == set(accounts)
    assert all(after[a] != accounts[a] for a in accounts)
    assert m.Account.objects.count() == len(accounts)
