"""`rollsync retention run` and `rollsync backup create|restore` (docs/operations.md).

Registered on the `rollsync` command by `cli._register_commands`, imported when named."""

from __future__ import annotations

from pathlib import Path

import click

from rollsync.cli_support import emit_json, fail, setup_django


@click.group("retention")
def retention() -> None:
    """Raw uploads kept ROLLSYNC_UPLOAD_RETENTION_DAYS days (their checksum and runs for ever);
    finished webhook deliveries kept ROLLSYNC_WEBHOOK_RETENTION_DAYS days."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep uploads' files this many days (default: ROLLSYNC_UPLOAD_RETENTION_DAYS).",
)
@click.option(
    "--webhook-days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep finished webhook deliveries this many days "
    "(default: ROLLSYNC_WEBHOOK_RETENTION_DAYS).",
)
@click.option("--json", "as_json", is_flag=True)
def retention_run(dry_run: bool, days: int | None, webhook_days: int | None, as_json: bool) -> None:
    """Purge the files of uploads past the retention period, and delete the webhook
    deliveries finished past theirs (the daily job does this too)."""
    setup_django()
    from rollsync.ops.services import (
        retention_days,
        uploads_purge_expired,
        webhook_deliveries_prune,
        webhook_retention_days,
    )

    kept = retention_days() if days is None else days
    hooks_kept = webhook_retention_days() if webhook_days is None else webhook_days
    result = uploads_purge_expired(actor="cli", days=kept, dry_run=dry_run)
    hooks = webhook_deliveries_prune(actor="cli", days=hooks_kept, dry_run=dry_run)
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "days": kept,
                "cutoff": result.cutoff.isoformat(),
                "uploads": result.purged,
                "bytes": result.bytes,
                "webhook_deliveries": {
                    "days": hooks_kept,
                    "cutoff": hooks.cutoff.isoformat(),
                    "deliveries": len(hooks.deliveries),
                    "attempts": hooks.attempts,
                },
            }
        )
        return
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"Retention {kept} days (before {result.cutoff:%Y-%m-%d %H:%M}): {verb} the files of "
        f"{len(result.purged)} upload(s), {result.bytes} bytes; their checksums and runs are kept."
    )
    for pk in result.purged[:50]:
        click.echo(f"  upload {pk}")
    if len(result.purged) > 50:
        click.echo(f"  ... and {len(result.purged) - 50} more")
    click.echo(
        f"Webhook deliveries finished before {hooks.cutoff:%Y-%m-%d %H:%M} ({hooks_kept} days): "
        f"{'would delete' if dry_run else 'deleted'} {len(hooks.deliveries)} with "
        f"{hooks.attempts} attempt(s); pending and retrying ones are kept."
    )


@click.group("backup")
def backup_group() -> None:
    """Back up the database, or restore it from a backup (docs/operations.md)."""


def _database() -> dict[str, object]:
    from django.conf import settings

    return dict(settings.DATABASES["default"])


@backup_group.command("create")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def backup_create(dest: Path, as_json: bool) -> None:
    """Write a backup of the database to DEST (a new file), and check it."""
    setup_django()
    from rollsync.ops.backup import BackupError, backup

    try:
        done = backup(_database(), dest)
    except BackupError as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit_json(
            {"path": str(done.path), "kind": done.kind, "size": done.size, "sha256": done.sha256}
        )
        return
    click.echo(f"Backed up ({done.kind}) to {done.path}: {done.size} bytes, sha256 {done.sha256}")


@backup_group.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: the database is replaced by the backup.")
@click.option("--json", "as_json", is_flag=True)
def backup_restore(source: Path, yes: bool, as_json: bool) -> None:
    """Replace the database with the backup in SOURCE. Stop the web app and workers first."""
    setup_django()
    from rollsync.ops.backup import BackupError, restore

    if not yes:
        click.confirm("Everything in the database is replaced by the backup. Go on?", abort=True)
    try:
        done = restore(_database(), source)
    except BackupError as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit_json({"restored": str(done.path), "kind": done.kind, "sha256": done.sha256})
        return
    click.echo(f"Restored ({done.kind}) from {done.path} (sha256 {done.sha256})")
