"""Run and upload tallies kept by the database (docs/decisions/0091).

/metrics must not read every run (a region records about four million a year). The
database keeps `RunTally` (per school, status and dry-run: how many runs, their seconds
as the histogram's buckets, their counts summed, the latest applied) and `UploadTally`
(per school: uploads, purged, bytes kept) with row triggers on `SyncRun` and `Upload`,
in the same transaction as each write, whichever code path writes (a run is saved from
several places, some with rolled-back ids, and some writes are `QuerySet.update`). The
run trigger also sets `Upload.has_run` on an upload's first run (and, were a run ever
deleted, says again whether any is left).

A trigger subtracts the old row's share and adds the new one's, so any change of status,
seconds or counts is followed. A share is only ever subtracted from a tally row that
exists (never inserted negative), so deleting every run and every tally, in either order
(a test database's flush), leaves no tally behind.

SQLite drops a table's triggers when a later migration remakes the table; the names
carry a version, and `tallies_ensure` (after every `migrate`) reinstalls them and counts
everything again when one is missing. `rollsync metrics recount` does the same by hand.
"""

from __future__ import annotations

from django.db import connection, transaction

from rollsync.directory import models as m
from rollsync.domain.actions import COUNT_KEYS

VERSION = "v1"  # bump when the SQL below changes: every database reinstalls and recounts
RUN = m.SyncRun._meta.db_table
UPLOAD = m.Upload._meta.db_table
RUN_TALLY = m.RunTally._meta.db_table
UPLOAD_TALLY = m.UploadTally._meta.db_table
TRIGGERS = (
    f"rs_run_tally_{VERSION}_ins",
    f"rs_run_tally_{VERSION}_upd",
    f"rs_run_tally_{VERSION}_del",
    f"rs_upload_tally_{VERSION}_ins",
    f"rs_upload_tally_{VERSION}_upd",
    f"rs_upload_tally_{VERSION}_del",
)
# The columns a run's share depends on, and an upload's.
_RUN_WATCHED = ("status", "dry_run", "school_id", "seconds", "counts", "applied_at")
_UPLOAD_WATCHED = ("school_id", "size", "purged_at")


def _count_of(row: str, key: str, vendor: str) -> str:
    """A run's `counts[key]` as an integer, 0 when absent or not a number."""
    if vendor == "postgresql":
        return (
            f"(CASE WHEN jsonb_typeof({row}.counts -> '{key}') = 'number' "
            f"THEN ({row}.counts ->> '{key}')::numeric::bigint ELSE 0 END)"
        )
    return f"COALESCE(CAST(json_extract({row}.counts, '$.{key}') AS INTEGER), 0)"


def _run_share(row: str, sign: str, vendor: str) -> str:
    sets = [f"runs = runs {sign} 1", f"seconds_sum = seconds_sum {sign} {row}.seconds"]
    for i, bound in enumerate(m.RUN_SECONDS_BUCKETS):
        sets.append(
            f"le_{i} = le_{i} {sign} (CASE WHEN {row}.seconds <= {bound!r} THEN 1 ELSE 0 END)"
        )
    for key in COUNT_KEYS:
        sets.append(f"rows_{key} = rows_{key} {sign} {_count_of(row, key, vendor)}")
    if sign == "+":  # the latest ever counted: an applied run never changes status
        sets.append(
            f"last_applied_at = CASE WHEN {row}.applied_at IS NULL "
            f"OR {row}.status <> 'applied' THEN last_applied_at "
            f"WHEN last_applied_at IS NULL OR {row}.applied_at > last_applied_at "
            f"THEN {row}.applied_at ELSE last_applied_at END"
        )
    where = f"school_id = {row}.school_id AND status = {row}.status AND dry_run = {row}.dry_run"
    return f"UPDATE {RUN_TALLY} SET {', '.join(sets)} WHERE {where};"


def _run_insert_key(row: str, vendor: str) -> str:
    ignore = "" if vendor == "postgresql" else " OR IGNORE"
    tail = " ON CONFLICT (school_id, status, dry_run) DO NOTHING" if vendor == "postgresql" else ""
    return (
        f"INSERT{ignore} INTO {RUN_TALLY} (school_id, status, dry_run) "
        f"VALUES ({row}.school_id, {row}.status, {row}.dry_run){tail};"
    )


def _upload_share(row: str, sign: str) -> str:
    return (
        f"UPDATE {UPLOAD_TALLY} SET uploads = uploads {sign} 1, "
        f"purged = purged {sign} (CASE WHEN {row}.purged_at IS NULL THEN 0 ELSE 1 END), "
        f"kept_bytes = kept_bytes {sign} (CASE WHEN {row}.purged_at IS NULL THEN {row}.size ELSE 0 END) "
        f"WHERE school_id = {row}.school_id;"
    )


def _upload_insert_key(row: str, vendor: str) -> str:
    ignore = "" if vendor == "postgresql" else " OR IGNORE"
    tail = " ON CONFLICT (school_id) DO NOTHING" if vendor == "postgresql" else ""
    return f"INSERT{ignore} INTO {UPLOAD_TALLY} (school_id) VALUES ({row}.school_id){tail};"


def _mark_ran(vendor: str) -> str:
    true = "TRUE" if vendor == "postgresql" else "1"
    return f"UPDATE {UPLOAD} SET has_run = {true} WHERE id = NEW.upload_id AND NOT has_run;"


def _unmark_ran(vendor: str) -> str:
    """A run deleted (never, in the product; a test's clean-up): is any left?"""
    return (
        f"UPDATE {UPLOAD} SET has_run = EXISTS (SELECT 1 FROM {RUN} "
        f"WHERE {RUN}.upload_id = OLD.upload_id) WHERE id = OLD.upload_id;"
    )


def _changed(columns: tuple[str, ...], vendor: str) -> str:
    op = "IS DISTINCT FROM" if vendor == "postgresql" else "IS NOT"
    return " OR ".join(f"OLD.{c} {op} NEW.{c}" for c in columns)


def _bodies(vendor: str) -> dict[str, tuple[str, str, str]]:
    """Trigger name -> (table, event, body statements)."""
    v = vendor
    if v == "postgresql":  # the row is there but for a school's first run of a status
        share, up_share = _run_share("NEW", "+", v), _upload_share("NEW", "+")
        run_add = f"{share} IF NOT FOUND THEN {_run_insert_key('NEW', v)} {share} END IF;"
        up_add = f"{up_share} IF NOT FOUND THEN {_upload_insert_key('NEW', v)} {up_share} END IF;"
    else:
        run_add = _run_insert_key("NEW", v) + " " + _run_share("NEW", "+", v)
        up_add = _upload_insert_key("NEW", v) + " " + _upload_share("NEW", "+")
    ins, upd, dele, uins, uupd, udel = TRIGGERS
    return {
        ins: (RUN, "INSERT", run_add + " " + _mark_ran(v)),
        upd: (RUN, "UPDATE", _run_share("OLD", "-", v) + " " + run_add),
        dele: (RUN, "DELETE", _run_share("OLD", "-", v) + " " + _unmark_ran(v)),
        uins: (UPLOAD, "INSERT", up_add),
        uupd: (UPLOAD, "UPDATE", _upload_share("OLD", "-") + " " + up_add),
        udel: (UPLOAD, "DELETE", _upload_share("OLD", "-")),
    }


def _install_sql(vendor: str) -> list[str]:
    out = []
    for name, (table, event, body) in _bodies(vendor).items():
        watched = _RUN_WATCHED if table == RUN else _UPLOAD_WATCHED
        when = f" WHEN ({_changed(watched, vendor)})" if event == "UPDATE" else ""
        if vendor == "postgresql":
            out.append(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {body} RETURN NULL; END $$;"
            )
            out.append(f"DROP TRIGGER IF EXISTS {name} ON {table};")
            out.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
                f"EXECUTE FUNCTION {name}();"
            )
        else:
            out.append(f"DROP TRIGGER IF EXISTS {name};")
            out.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
                f"BEGIN {body} END;"
            )
    return out


def _installed() -> set[str]:
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'rs\\_%%'"
            )
        else:
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {row[0] for row in cur.fetchall()}


def _recount_sql() -> list[str]:
    """Every tally counted afresh from the runs and uploads (one pass over each)."""
    v = connection.vendor
    buckets = ", ".join(
        f"SUM(CASE WHEN seconds <= {b!r} THEN 1 ELSE 0 END)" for b in m.RUN_SECONDS_BUCKETS
    )
    counts = ", ".join(f"SUM({_count_of(RUN, k, v)})" for k in COUNT_KEYS)
    columns = ", ".join(
        ["school_id", "status", "dry_run", "runs", "seconds_sum"]
        + [f"le_{i}" for i in range(len(m.RUN_SECONDS_BUCKETS))]
        + [f"rows_{k}" for k in COUNT_KEYS]
        + ["last_applied_at"]
    )
    true = "TRUE" if v == "postgresql" else "1"
    false = "FALSE" if v == "postgresql" else "0"
    return [
        f"DELETE FROM {RUN_TALLY};",
        f"INSERT INTO {RUN_TALLY} ({columns}) SELECT school_id, status, dry_run, COUNT(*), "
        f"COALESCE(SUM(seconds), 0), {buckets}, {counts}, "
        f"MAX(CASE WHEN status = 'applied' THEN applied_at END) FROM {RUN} "
        "GROUP BY school_id, status, dry_run;",
        f"DELETE FROM {UPLOAD_TALLY};",
        f"INSERT INTO {UPLOAD_TALLY} (school_id, uploads, purged, kept_bytes) "
        "SELECT school_id, COUNT(*), SUM(CASE WHEN purged_at IS NULL THEN 0 ELSE 1 END), "
        f"COALESCE(SUM(CASE WHEN purged_at IS NULL THEN size ELSE 0 END), 0) FROM {UPLOAD} "
        "GROUP BY school_id;",
        # only the uploads whose flag is wrong are written
        f"UPDATE {UPLOAD} SET has_run = {true} WHERE NOT has_run AND EXISTS "
        f"(SELECT 1 FROM {RUN} WHERE {RUN}.upload_id = {UPLOAD}.id);",
        f"UPDATE {UPLOAD} SET has_run = {false} WHERE has_run AND NOT EXISTS "
        f"(SELECT 1 FROM {RUN} WHERE {RUN}.upload_id = {UPLOAD}.id);",
    ]


def tallies_recount() -> None:
    """Install the triggers and count every tally again, in one transaction that locks
    the runs and uploads against writers meanwhile (PostgreSQL; SQLite has one writer)."""
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"LOCK TABLE {RUN}, {UPLOAD} IN SHARE ROW EXCLUSIVE MODE")
            cur.execute(
                "SELECT tgname, relname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid"
                " WHERE NOT tgisinternal AND tgname LIKE 'rs\\_%%\\_tally\\_%%'"
            )
            stale = [(n, r) for n, r in cur.fetchall() if n not in TRIGGERS]
            for name, table in stale:  # an older version's
                cur.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                cur.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            cur.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rs\\_%\\_tally\\_%' ESCAPE '\\'"
            )
            for (name,) in cur.fetchall():
                if name not in TRIGGERS:
                    cur.execute(f"DROP TRIGGER IF EXISTS {name}")
        for statement in _install_sql(connection.vendor):
            cur.execute(statement)
        for statement in _recount_sql():
            cur.execute(statement)
        if connection.vendor == "postgresql":
            # many `has_run` flags may have just changed: the waiting uploads' partial
            # index is only chosen once the planner knows how few are left
            cur.execute(f"ANALYZE {UPLOAD}")


def tallies_ensure() -> bool:
    """After `migrate`: when a trigger is missing (a first install, a new version, a
    table SQLite remade), install them and count everything again. True if it did."""
    if set(TRIGGERS) <= _installed():
        return False
    tallies_recount()
    return True
