"""Two `rollsync retention run` processes at once (the daily job on two worker hosts, or
an operator beside it): every expired file is purged once, with one audit event."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.access.helpers import class_list
from tests.ops.test_backup_drill import URN, Rollsync, rollsync

__all__ = ["rollsync"]


def sql(kind: str, rs: Rollsync, statement: str) -> list[tuple[Any, ...]]:
    if kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(rs.home / "rollsync.sqlite3")
        try:
            with conn:
                return conn.execute(statement).fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(rs.env["DATABASE_URL"], autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


@pytest.mark.slow
def test_two_purges_at_once_purge_each_file_once(rollsync: tuple[str, Rollsync]) -> None:
    kind, rs = rollsync
    rs("migrate")
    rs("school", "add", "--urn", URN, "--la", "202", "--estab", "2001", "--name", "Hillside")
    pupils = class_list("P", "H")
    for day in range(1, 7):  # six uploads of one feed: the first five may go
        rs.load(f"day{day}.csv", pupils[: 10 - (day % 2)], f"2026-09-{day + 6:02d}")
    old = "2020-01-01 00:00:00" + ("+00:00" if kind == "postgresql" else "")
    sql(kind, rs, f"UPDATE directory_upload SET received_at = '{old}'")
    ids = [r[0] for r in sql(kind, rs, "SELECT id FROM directory_upload ORDER BY id")]
    assert len(ids) == 6

    command = [sys.executable, "-m", "rollsync", "retention", "run", "--days", "30", "--json"]
    procs = [
        subprocess.Popen(
            command,
            env=rs.env,
            cwd=rs.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    first, second = (set(r["uploads"]) for r in results)
    assert not first & second
    assert first | second == set(ids[:5])
    assert sql(
        kind, rs, "SELECT COUNT(*) FROM directory_auditevent WHERE action = 'upload_purged'"
    ) == [(5,)]
    kept = sql(
        kind, rs, "SELECT id, length(data), purged_at IS NULL FROM directory_upload ORDER BY id"
    )
    assert [(i, n > 0, k) for i, n, k in kept] == [
        *((i, False, False) for i in ids[:5]),
        (ids[5], True, True),
    ]
    # the runs of the purged uploads are all still listed, each saying so
    rows = rs.json("runs", "list", "--school", URN)
    assert sorted(r["upload"] for r in rows if r["file_purged_at"]) == ids[:5]
    assert len(rows) == 6
