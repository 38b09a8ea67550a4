"""SQLite's online backup while another process writes: the copy is one consistent
moment of the database (each of the writer's transactions wholly in it or wholly not),
which a copy of the file would not promise."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollsync.ops.backup import BackupError, backup

ENGINE = "django.db.backends.sqlite3"

WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
i = 0
while True:
    conn.execute("BEGIN IMMEDIATE")
    # one transaction: a pair of rows, and a total that must always equal their count
    conn.execute("INSERT INTO t(v) VALUES (?), (?)", (i, i))
    conn.execute("UPDATE total SET n = n + 2")
    conn.execute("COMMIT")
    i += 1
    if i == 50:
        open(sys.argv[2], "w").close()  # writing has begun
"""


@pytest.mark.slow
def test_a_backup_while_a_process_writes_is_consistent(tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite3"
    conn = sqlite3.connect(live)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t(v INTEGER)")
    conn.execute("CREATE TABLE total(n INTEGER)")
    conn.execute("INSERT INTO total VALUES (0)")
    conn.commit()
    conn.close()
    started = tmp_path / "started"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(live), str(started)])
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.05)
        copies = [
            backup({"ENGINE": ENGINE, "NAME": str(live)}, tmp_path / f"b{i}.bak") for i in range(3)
        ]
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    counts = []
    for made in copies:
        copy = sqlite3.connect(made.path)
        rows = copy.execute("SELECT COUNT(*) FROM t").fetchone()[0]
        total = copy.execute("SELECT n FROM total").fetchone()[0]
        copy.close()
        assert rows == total and rows % 2 == 0 and rows >= 100
        counts.append(rows)
    assert counts == sorted(counts)  # each later than the one before


def test_an_in_memory_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="in-memory SQLite database cannot be backed up"):
        backup({"ENGINE": ENGINE, "NAME": ":memory:"}, tmp_path / "x.bak")
    assert not (tmp_path / "x.bak").exists()


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no backup drill for the database engine"):
        backup({"ENGINE": "django.db.backends.mysql", "NAME": "x"}, tmp_path / "x.bak")
