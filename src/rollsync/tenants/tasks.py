"""Scheduled provisioning on the project's queue (django-q2, ORM broker, as
directory/tasks.py): every minute `provision_due` (a django-q2 schedule made by migration
0002, taken by one worker a period) queues one task per connection whose time has come;
`provision_connection` is that task's body. A run already going (its connection's hold)
makes the task a no-op; a killed run is finished by the next."""

from __future__ import annotations

from typing import Any

TASK_FUNC = "rollsync.tenants.tasks.provision_connection"


def enqueue_provision(connection_id: int) -> None:
    """Put the run on the queue in the caller's transaction (the ORM broker's row)."""
    from django_q.tasks import async_task

    async_task(TASK_FUNC, connection_id, group="provision")


def provision_due() -> int:
    from rollsync.tenants.services import provisions_queue_due

    return len(provisions_queue_due(actor="schedule"))


def provision_connection(connection_id: int) -> dict[str, Any]:
    from rollsync.directory.services.errors import CONFLICT
    from rollsync.tenants.models import TenantConnection
    from rollsync.tenants.services import TenantError, provision_run

    connection = (
        TenantConnection.objects.select_related("school", "la").filter(pk=connection_id).first()
    )
    if connection is None or not connection.enabled:
        return {"connection": connection_id, "skipped": "disconnected"}
    try:
        run = provision_run(connection=connection, dry_run=False, actor="schedule")
    except TenantError as exc:
        if exc.code == CONFLICT:
            return {"connection": connection_id, "skipped": str(exc)}
        raise
    return {"connection": connection_id, "run": run.pk, "status": run.status}
