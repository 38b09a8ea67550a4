"""Writes for tenant provisioning: connect (settings checked, credential checked by
fetching a token, then sealed), disconnect (credential forgotten), and a run (the
directory read through the connection itself as principal, the tenant read back,
planned, applied unless a dry run, and the report stored). Every write is audited.

A run talks to the tenant outside any transaction (it may take minutes); it holds the
connection by `running_since` so two runs of one connection never overlap, and a killed
run's hold is taken over after ROLLSYNC_PROVISION_LEASE_MINUTES (30). Nothing is lost by
a killed run: the next one reads the tenant back and carries on from there."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import fields as dc_fields
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rollsync.access.scoped import scope_given
from rollsync.directory import models as m
from rollsync.directory.exports import ExportRefused, roster_read
from rollsync.directory.secrets import SecretsUnreadable, seal, unseal
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.connections import (
    MisConnectionError,
    _check_schedule,
    next_pull_time,
)
from rollsync.directory.services.errors import CONFLICT, INVALID, REFUSED, ServiceError
from rollsync.provisioning.desired import directory_from_roster
from rollsync.provisioning.errors import ProvisioningError
from rollsync.provisioning.google import GoogleSettings, GoogleTenant, ServiceAccount
from rollsync.provisioning.microsoft import MicrosoftSettings, MicrosoftTenant
from rollsync.provisioning.run import RunResult, provision

from .models import ProvisionRun, TenantConnection, TenantKind

_LABEL = dict(TenantKind.choices)


class TenantError(ServiceError, ValueError):
    """A refused tenant write; the message names the field."""


def _lease() -> timedelta:
    return timedelta(minutes=float(os.environ.get("ROLLSYNC_PROVISION_LEASE_MINUTES", "30")))


def _client(kind: str, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> Any:
    """The tenant client, every setting and the credential checked (`BadTenantSettings`)."""
    if kind == TenantKind.GOOGLE:
        fields = {f.name: settings[f.name] for f in dc_fields(GoogleSettings) if f.name in settings}
        try:
            google = GoogleSettings(**fields)
        except TypeError:
            raise TenantError(
                "a Google connection needs --domain and --admin-email", field="domain"
            ) from None
        return GoogleTenant(google, ServiceAccount.parse(secrets.get("service_account", "")))
    if kind == TenantKind.MICROSOFT:
        fields = {
            f.name: settings[f.name] for f in dc_fields(MicrosoftSettings) if f.name in settings
        }
        try:
            microsoft = MicrosoftSettings(**fields)
        except TypeError:
            raise TenantError(
                "a Microsoft connection needs --domain, --tenant-id, --client-id, "
                "--service-principal-id and --job-id",
                field="tenant_id",
            ) from None
        return MicrosoftTenant(
            microsoft,
            secrets.get("client_secret", ""),
            poll_wait=float(os.environ.get("ROLLSYNC_PROVISION_POLL_WAIT", "2")),
        )
    raise TenantError(f"{kind!r} is not google or microsoft", field="kind")


def _scope(school: m.School | None, la: m.LocalAuthority | None) -> dict[str, Any]:
    if not scope_given(school=school, la=la):
        raise TenantError("name one school (--school URN) or one LA (--la CODE)", field="school")
    return {"school": school, "la": None} if school is not None else {"school": None, "la": la}


def tenant_connect(
    *,
    kind: str,
    school: m.School | None = None,
    la: m.LocalAuthority | None = None,
    settings: Mapping[str, Any],
    secret: str,
    actor: str,
    check: bool = True,
    schedule: str | None = None,
) -> TenantConnection:
    """Connect (or reconnect, replacing settings and credential). With `check`, a token
    is fetched first; when the tenant refuses, nothing is stored. `schedule`: cron
    fields for scheduled runs (None keeps the one it had; "" none)."""
    scope = _scope(school, la)
    cron = _cron(schedule) if schedule else schedule
    secret_name = "service_account" if kind == TenantKind.GOOGLE else "client_secret"
    secrets = {secret_name: secret}
    try:
        client = _client(kind, settings, secrets)
    except ProvisioningError as exc:
        raise TenantError(exc.message, code=INVALID, field=exc.field or None) from None
    try:
        if check:
            client.token()
    except ProvisioningError as exc:
        raise TenantError(exc.message, code=REFUSED, field=exc.field or None) from None
    finally:
        client.close()
    stored = {k: v for k, v in asdict(client.settings).items() if v not in ("", None)}
    now = timezone.now()
    with transaction.atomic():
        found = TenantConnection.objects.select_for_update().filter(kind=kind, **scope).first()
        # One tenant, one connection: two (a school's and its LA's) would each suspend
        # the people the other pushed.
        other = (
            TenantConnection.objects.filter(
                kind=kind, enabled=True, settings__domain=stored["domain"]
            )
            .exclude(pk=found.pk if found else None)
            .select_related("school", "la")
            .first()
        )
        if other is not None:
            raise TenantError(
                f"the {_LABEL[kind]} tenant {stored['domain']} is already connected for "
                f"{other.scope_label}: a tenant takes one connection (disconnect that one, "
                "or connect the LA to push all its schools)",
                code=CONFLICT,
                field="domain",
            )
        replaced = found is not None
        connection = found or TenantConnection(kind=kind, created_by=actor, **scope)
        connection.settings = stored
        connection.secrets = seal(secrets)
        connection.enabled = True
        connection.disconnected_at = None
        connection.planned_at = None  # new settings or credential: a dry run first
        if replaced:
            connection.secret_replaced_at = now
        if cron is not None:
            connection.schedule = cron
            connection.next_run_at = next_pull_time(cron, after=now) if cron else None
        connection.save()
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "tenant_connected",
            f"{_LABEL[kind]} tenant {'reconnected' if replaced else 'connected'} for "
            f"{connection.scope_label} ({stored['domain']})",
            changes={
                "settings": stored,
                "credential_replaced": replaced,
                "schedule": connection.schedule,
            },
        )
        audit.flush()
    return connection


def tenant_disconnect(*, connection: TenantConnection, actor: str) -> TenantConnection:
    """Switched off: the credential is forgotten, no run can start; the reports stay."""
    with transaction.atomic():
        locked = TenantConnection.objects.select_for_update().get(pk=connection.pk)
        if not locked.enabled:
            raise TenantError(
                f"the {_LABEL[locked.kind]} tenant is already disconnected", code=CONFLICT
            )
        locked.enabled = False
        locked.secrets = b""
        locked.disconnected_at = timezone.now()
        locked.save(update_fields=["enabled", "secrets", "disconnected_at"])
        audit = AuditLog(actor=actor, school=locked.school)
        audit.add(
            "tenant_disconnected",
            f"{_LABEL[locked.kind]} tenant disconnected for {locked.scope_label}: "
            "its credential was forgotten",
        )
        audit.flush()
    return locked


def _hold(connection: TenantConnection) -> None:
    now = timezone.now()
    got = (
        TenantConnection.objects.filter(pk=connection.pk, enabled=True)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - _lease()))
        .update(running_since=now)
    )
    if got:
        # Held now, so any run still marked running was killed midway: say so.
        ProvisionRun.objects.filter(
            connection_id=connection.pk, status=ProvisionRun.Status.RUNNING
        ).update(
            status=ProvisionRun.Status.STOPPED,
            finished_at=now,
            error="the run was killed midway; the next run read the tenant back and carried on",
        )
        return
    if not got:
        current = TenantConnection.objects.filter(pk=connection.pk).first()
        if current is None or not current.enabled:
            raise TenantError(
                "this tenant connection is disconnected: connect it first", code=CONFLICT
            )
        raise TenantError(
            "a run of this tenant connection is already going; try again when it ends",
            code=CONFLICT,
        )


def _actions(result: RunResult) -> list[dict[str, Any]]:
    done = {id(o.action): o for o in result.outcomes}
    out = []
    for action in result.plan.actions:
        outcome = done.get(id(action))
        out.append(
            {
                "kind": action.kind.value,
                "key": action.key,
                "user": action.user,
                "reason": action.reason,
                "changes": action.changes,
                "ok": None if outcome is None else outcome.ok,
                "error": outcome.error if outcome is not None else "",
            }
        )
    return out


def provision_run(
    *,
    connection: TenantConnection,
    dry_run: bool,
    actor: str,
    today: date | None = None,
) -> ProvisionRun:
    """Plan (and unless `dry_run`, apply) this connection's directory into its tenant.
    Returns the stored report; a refused credential or an unreadable tenant is a failed
    run that changed nothing. The first push after a (re)connect is refused until a dry
    run of the connection has been made."""
    _hold(connection)
    connection.refresh_from_db()
    if not dry_run and connection.planned_at is None:
        TenantConnection.objects.filter(pk=connection.pk).update(running_since=None)
        raise TenantError(
            f"make a dry run of this {_LABEL[connection.kind]} connection first (`rollsync "
            f"provision plan {connection.kind}`): its first push after connecting waits for "
            "someone to have seen what it would change",
            code=REFUSED,
        )
    run = ProvisionRun.objects.create(
        connection=connection,
        actor=actor,
        dry_run=dry_run,
        status=ProvisionRun.Status.RUNNING,
        started_at=timezone.now(),
    )
    client = None
    try:
        roster = roster_read(
            principal=connection,
            today=today or timezone.localdate(),
            urn=connection.school.urn if connection.school else None,
            la_code=connection.la.code if connection.la else None,
        )
        directory = directory_from_roster(
            roster,
            domain=str(connection.settings.get("domain", "")),
            owners_are_members=connection.kind == TenantKind.MICROSOFT,
        )
        client = _client(connection.kind, connection.settings, unseal(connection.secrets))
        result = provision(client, directory, dry_run=dry_run)
    except (ProvisioningError, SecretsUnreadable, ExportRefused) as exc:
        run.status = ProvisionRun.Status.FAILED
        run.error = getattr(exc, "message", str(exc))
    except Exception as exc:
        # A fault of ours: the run is recorded as stopped and the connection released
        # before the error goes on (a database error, a bug); the next run reads back.
        run.status = ProvisionRun.Status.STOPPED
        run.error = f"stopped by an internal error ({type(exc).__name__})"
        run.finished_at = timezone.now()
        run.save()
        TenantConnection.objects.filter(pk=connection.pk).update(running_since=None)
        raise
    else:
        run.status = result.status
        run.counts = result.plan.counts()
        run.actions = _actions(result)
        run.pushed = sum(1 for o in result.outcomes if o.ok)
        run.failed = len(result.failed)
        run.error = result.stopped
    finally:
        if client is not None:
            run.requests = client.http.requests_made
            run.throttled = client.http.throttled
            client.close()
    run.finished_at = timezone.now()
    with transaction.atomic():
        run.save()
        planned = dry_run and run.status == ProvisionRun.Status.PLANNED
        TenantConnection.objects.filter(pk=connection.pk).update(
            running_since=None,
            last_run_at=run.finished_at,
            **({"planned_at": run.finished_at} if planned else {}),
        )
        if not dry_run:
            audit = AuditLog(actor=actor, school=connection.school)
            audit.add(
                "tenant_provisioned",
                f"{_LABEL[connection.kind]} run {run.pk} for {connection.scope_label}: "
                f"{run.status}, {run.pushed} pushed, {run.failed} failed"
                + (f" ({run.error})" if run.error else ""),
                changes={"counts": run.counts},
            )
            audit.flush()
    return run


def _cron(schedule: str) -> str:
    try:
        return _check_schedule(schedule)
    except MisConnectionError as exc:
        raise TenantError(str(exc), field="schedule") from None


def provisions_queue_due(*, actor: str = "schedule", now: Any = None) -> list[int]:
    """Queue one run per connection whose scheduled time has come, moving its next time
    on in the same transaction: however many schedulers run this at once, a connection's
    run for a period is queued once (rows claimed with SKIP LOCKED where there is)."""
    from rollsync.tenants import tasks

    now = now or timezone.now()
    queued: list[int] = []
    with transaction.atomic():
        due = (
            TenantConnection.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_run_at__lte=now)
            .exclude(schedule="")
        )
        for connection in due:
            connection.next_run_at = next_pull_time(connection.schedule, after=now)
            connection.save(update_fields=["next_run_at"])
            tasks.enqueue_provision(connection.pk)
            queued.append(connection.pk)
    return queued
