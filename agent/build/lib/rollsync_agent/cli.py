"""The `rollsync-agent` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from rollsync_agent import __version__, runner
from rollsync_agent.config import ConfigError, check_server_url, find_importer
from rollsync_agent.home import ensure_dir, resolve_home
from rollsync_agent.logs import log, setup, tail
from rollsync_agent.redact import REDACT
from rollsync_agent.schedule import ScheduleError, parse_when, schedule
from rollsync_agent.secret_store import SecretStore
from rollsync_agent.server import ServerError, ServerUnreachable
from rollsync_agent.status import Status, render
from rollsync_agent.tree import TreeError, check, load_cache, save_cache
from rollsync_agent.tree import render as render_tree


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rollsync-agent",
        description="rollsync's agent for SIMS: extract the accepted reports, drop the fields "
        "the school does not send, upload the rest.",
    )
    p.add_argument("--version", action="version", version=f"rollsync-agent {__version__}")
    p.add_argument(
        "--home", help="folder for configuration, queue, log and status (env ROLLSYNC_AGENT_HOME)"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("configure", help="set the server, licence key and SIMS login")
    c.add_argument("--server", help="rollsync's address, https://...")
    c.add_argument("--licence-key", help="the key AutoUpdate Settings shows")
    c.add_argument("--command-reporter", help="path of SIMS's CommandReporter.exe")
    c.add_argument("--command-report-importer", help="path of CommandReportImporter.exe")
    c.add_argument("--sims-user", help="the SIMS user the agent logs in as")
    c.add_argument(
        "--sims-password-stdin", action="store_true", help="read the SIMS password from stdin"
    )
    c.add_argument("--trusted", action="store_true", help="log in to SIMS as this Windows account")
    c.add_argument("--server-name", help=r"SIMS's SQL Server, HOST\INSTANCE")
    c.add_argument("--database-name", help="SIMS's database name")

    sub.add_parser("test-connection", help="reach the server and check the licence key")
    r = sub.add_parser("reports", help="the reports and fields the school accepted")
    r.add_argument("--json", action="store_true")
    run = sub.add_parser("run", help="extract, filter and upload")
    run.add_argument("--extract-filter-only", action="store_true")
    run.add_argument("--report", action="append", default=[], help="only this report (code)")
    run.add_argument("--json", action="store_true")
    s = sub.add_parser("status", help="the four lights and the last log lines")
    s.add_argument("--json", action="store_true")
    sc = sub.add_parser("schedule", help="run every school day at a time")
    sc.add_argument("--days", default="mon-fri", help="mon-fri, mon,wed,fri or daily")
    sc.add_argument("--at", default="18:30", help="HH:MM")
    sc.add_argument("--remove", action="store_true")
    sc.add_argument("--platform", choices=("linux", "windows"), help=argparse.SUPPRESS)
    sp = sub.add_parser("status-page", help="a local status page on 127.0.0.1")
    sp.add_argument("--port", type=int, default=8765)
    sp.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    home = ensure_dir(resolve_home(args.home))
    quiet = args.command in ("status", "status-page") or bool(getattr(args, "json", False))
    setup(home, quiet=quiet)
    try:
        handler = COMMANDS[args.command]
        return handler(home, args)
    except (ConfigError, ScheduleError, TreeError, ValueError) as exc:
        log.error("%s", exc)
        if quiet:
            print(f"error: {REDACT(str(exc))}", file=sys.stderr)
        return 2


def configure(home: Path, args: argparse.Namespace) -> int:
    ctx = runner.Context.open(home)
    cfg = ctx.cfg
    first = not cfg.server
    if args.trusted and (args.sims_user or args.sims_password_stdin):
        raise ConfigError(
            "give either --trusted or --sims-user with --sims-password-stdin, not both"
        )
    if args.server is not None:
        cfg.server = check_server_url(args.server)
    if args.command_reporter is not None:
        path = Path(args.command_reporter).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"--command-reporter {path}: no such file")
        cfg.command_reporter = str(path)
    if args.command_report_importer is not None:
        path = Path(args.command_report_importer).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"--command-report-importer {path}: no such file")
        cfg.command_report_importer = str(path)
    if (
        cfg.command_reporter
        and not cfg.command_report_importer
        and find_importer(Path(cfg.command_reporter)) is None
    ):
        raise ConfigError(
            f"CommandReportImporter was not found beside {cfg.command_reporter}: "
            "give its path with --command-report-importer"
        )
    password: str | None = None
    if args.trusted:
        cfg.auth, cfg.sims_user = "trusted", ""
        password = ""
    elif args.sims_user is not None or args.sims_password_stdin:
        if args.sims_user is not None:
            if not args.sims_user.strip():
                raise ConfigError("--sims-user is empty")
            if not args.sims_password_stdin:
                raise ConfigError("--sims-user needs --sims-password-stdin (the password on stdin)")
            cfg.sims_user = args.sims_user.strip()
        elif cfg.auth != "user":
            raise ConfigError("--sims-password-stdin needs --sims-user")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ConfigError("no SIMS password on stdin")
        REDACT.add(password)
        cfg.auth = "user"
    elif first:
        raise ConfigError(
            "give the SIMS login: --sims-user with --sims-password-stdin, or --trusted"
        )
    for name in ("server_name", "database_name"):
        value = getattr(args, name)
        if value is not None:
            if not value.strip():
                raise ConfigError(f"--{name.replace('_', '-')} is empty")
            setattr(cfg, name, value.strip())
    key = args.licence_key.strip() if args.licence_key is not None else None
    if key is not None and not key:
        raise ConfigError("--licence-key is empty")
    REDACT.add(key)
    missing = cfg.missing(
        licence_key=key or ctx.licence_key,
        password=password if password is not None else ctx.password,
    )
    if missing:
        raise ConfigError("not configured yet, still needed: " + "; ".join(missing))
    cfg.save(home)
    ctx.secrets.set(licence_key=key, sims_password=password)
    log.info(
        "configured: server %s, SIMS %s/%s (%s), secrets in %s",
        cfg.server,
        cfg.server_name,
        cfg.database_name,
        "trusted" if cfg.auth == "trusted" else f"user {cfg.sims_user}",
        ctx.secrets.where,
    )
    return 0


def test_connection(home: Path, args: argparse.Namespace) -> int:
    ctx = runner.Context.open(home)
    if not runner.config_check(ctx):
        return 1
    with ctx.server() as server:
        try:
            hello = server.hello()
        except ServerUnreachable as exc:
            log.error("%s", exc)
            ctx.status.set("upload", "red", str(exc))
            return 1
        except ServerError as exc:
            message = runner.LICENCE_REFUSED if exc.status == 401 else exc.message
            log.error("%s", message)
            ctx.status.set("upload", "red", message)
            return 1
        school = hello.get("school") or {}
        how = "over TLS" if server.tls else "over plain HTTP (loopback)"
        log.info(
            "connected to %s %s: licence key accepted for %s (URN %s), %s; server %s",
            server.host,
            how,
            school.get("name"),
            school.get("urn"),
            hello.get("la"),
            hello.get("server_version"),
        )
        ctx.post_status(server)
    return 0


def reports(home: Path, args: argparse.Namespace) -> int:
    ctx = runner.Context.open(home)
    if not ctx.cfg.server:
        raise ConfigError("not configured: run rollsync-agent configure first")
    note = ""
    with ctx.server() as server:
        try:
            tree = server.reports()
            check(tree)
            save_cache(home, tree)
            ctx.post_status(server)
        except (ServerUnreachable, ServerError) as exc:
            if isinstance(exc, ServerError) and exc.status == 401:
                log.error("%s", runner.LICENCE_REFUSED)
                return 1
            cached = load_cache(home)
            if cached is None:
                log.error("%s; no report tree cached yet", exc)
                return 1
            tree, at = cached
            note = f"offline ({exc}): showing the report tree cached at {at}"
    if args.json:
        print(json.dumps({"cached": bool(note), "note": note, **tree}, indent=2))
        return 0
    if note:
        print(f"{note}\n[cached]")
    print(render_tree(check(tree)))
    return 0


def run(home: Path, args: argparse.Namespace) -> int:
    # One run at a time per home (the schedule's and a person's, say): a second would
    # extract and send the same reports beside the first and fight over its queue.
    lock = FileLock(str(home / "run.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        words = "another run of this agent is under way: this one did nothing"
        if args.json:
            print(json.dumps({"ok": False, "outcome": "busy", "message": words}, indent=2))
        else:
            print(words, file=sys.stderr)
        return 1
    try:
        ok, summary = runner.run(
            home, reports_wanted=list(args.report), extract_only=args.extract_filter_only
        )
    finally:
        lock.release()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(render(Status(home), [], colour=sys.stdout.isatty()))
    return 0 if ok else 1


def status(home: Path, args: argparse.Namespace) -> int:
    REDACT.add(*(SecretStore(home).get(n) for n in ("licence_key", "sims_password")))
    st = Status(home)
    lines = tail(home, 20)
    if args.json:
        out: dict[str, Any] = {**st.as_dict(), "log": lines}
        print(json.dumps(out, indent=2))
    else:
        print(render(st, lines, colour=sys.stdout.isatty()))
    return 0 if st.ok else 1


def schedule_cmd(home: Path, args: argparse.Namespace) -> int:
    platform = args.platform or ("windows" if sys.platform.startswith("win") else "linux")
    when = None if args.remove else parse_when(args.days, args.at)
    log.info("%s", schedule(platform, when, home))
    return 0


def status_page(home: Path, args: argparse.Namespace) -> int:
    from rollsync_agent.statuspage import serve

    serve(home, args.host, args.port)
    return 0


COMMANDS = {
    "configure": configure,
    "test-connection": test_connection,
    "reports": reports,
    "run": run,
    "status": status,
    "schedule": schedule_cmd,
    "status-page": status_page,
}
