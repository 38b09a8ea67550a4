"""Readiness: what a process needs before it takes traffic or work."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor


def _check(fn: Any) -> dict[str, Any]:
    try:
        with transaction.atomic():  # a failed check leaves the connection usable (PostgreSQL)
            detail = fn()
    except DatabaseError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()[:300]}
    if isinstance(detail, str):  # a reason it is not ready
        return {"ok": False, "error": detail}
    return {"ok": True}


def _database() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()


def _migrations() -> str | None:
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{mig.app_label}.{mig.name}" for mig, _ in pending[:5])
        return f"{len(pending)} migration(s) not applied: {names}"
    return None


def _queue() -> None:
    from django_q.models import OrmQ

    from rollsync.directory import models as m

    OrmQ.objects.exists()
    m.QueuedTask.objects.exists()


def readiness() -> dict[str, dict[str, Any]]:
    database = _check(_database)
    if not database["ok"]:
        skipped = {"ok": False, "error": "the database is not reachable"}
        return {"database": database, "migrations": skipped, "queue": skipped}
    return {"database": database, "migrations": _check(_migrations), "queue": _check(_queue)}
