"""`rollsync-agent run`: configuration, report tree, extract, filter, upload, status."""

from __future__ import annotations

import hashlib
import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollsync_agent import __version__, queue
from rollsync_agent.config import Config, ConfigError, find_importer
from rollsync_agent.extract import ExtractError, check_ids, filter_report, parse_report
from rollsync_agent.home import ensure_dir, read_json, write_atomic, write_json
from rollsync_agent.logs import log, tail
from rollsync_agent.redact import REDACT
from rollsync_agent.secret_store import SecretStore
from rollsync_agent.server import Server, ServerError, ServerUnreachable
from rollsync_agent.sims import import_definition, run_report
from rollsync_agent.status import Status, now
from rollsync_agent.tree import TreeError, allowed_captions, check, load_cache, save_cache
from rollsync_agent.upload import GaveUp, LicenceRefused, Rejected, Uploader

IMPORTED_FILE = "imported.json"
LICENCE_REFUSED = "the licence key was refused: enter the one AutoUpdate Settings shows"


@dataclass
class ReportResult:
    report: str
    rows: int | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    file: str | None = None
    upload_id: str | None = None
    upload: int | None = None
    state: str = "pending"  # extracted, queued, stored, rejected, failed
    error: str | None = None


@dataclass
class Context:
    home: Path
    cfg: Config
    secrets: SecretStore
    status: Status
    licence_key: str | None
    password: str | None

    @classmethod
    def open(cls, home: Path) -> Context:
        secrets = SecretStore(home)
        key, password = secrets.get("licence_key"), secrets.get("sims_password")
        REDACT.add(key, password)
        return cls(home, Config.load(home), secrets, Status(home), key, password)

    def server(self) -> Server:
        return Server(self.cfg.server, self.licence_key or "")

    def post_status(self, server: Server) -> None:
        payload = {
            "agent_version": __version__,
            "hostname": socket.gethostname(),
            "platform": platform.platform(terse=True),
            "python": platform.python_version(),
            "lights": self.status.lights,
            "last_run": self.status.last_run,
            "queued": len(queue.pending(self.home / "queue")),
            "log": REDACT.lines(tail(self.home, 50)),
        }
        try:
            server.status(payload)
        except (ServerError, ServerUnreachable) as exc:
            log.info("the status could not be posted: %s", exc)


def config_check(ctx: Context) -> bool:
    missing = ctx.cfg.missing(licence_key=ctx.licence_key, password=ctx.password)
    if missing:
        message = "not configured: run rollsync-agent configure with " + "; ".join(missing)
        log.error("%s", message)
        ctx.status.set("configuration", "red", message)
        return False
    ctx.status.set(
        "configuration",
        "green",
        f"SIMS {ctx.cfg.server_name}/{ctx.cfg.database_name}, server {ctx.cfg.server}",
    )
    return True


def fetch_tree(ctx: Context, server: Server) -> tuple[list[dict[str, Any]] | None, str]:
    """The report tree, fresh or cached; (None, why) when there is neither."""
    try:
        tree = server.reports()
        reports = check(tree)
        save_cache(ctx.home, tree)
        return reports, ""
    except ServerUnreachable as exc:
        why = str(exc)
    except ServerError as exc:
        if exc.status == 401:
            raise LicenceRefused(LICENCE_REFUSED) from None
        why = f"{server.host} answered {exc.status}: {exc.message}"
    except TreeError as exc:
        why = str(exc)
    cached = load_cache(ctx.home)
    if cached is None:
        return None, f"{why}; no report tree cached yet"
    log.warning("%s: using the report tree cached at %s", why, cached[1])
    try:
        return check(cached[0]), f"cached at {cached[1]}"
    except TreeError as exc:
        return None, f"{why}; the cached report tree is unreadable: {exc}"


def _importer(cfg: Config) -> str:
    if cfg.command_report_importer:
        return cfg.command_report_importer
    found = find_importer(Path(cfg.command_reporter))
    if found is None:
        raise ExtractError(f"CommandReportImporter was not found beside {cfg.command_reporter}")
    return str(found)


def extract_one(ctx: Context, r: dict[str, Any]) -> bytes:
    """Import the definition when it changed, run the report, return its bytes."""
    code = r["report"]
    definition = r["definition"]
    xml = str(definition.get("xml") or "").encode("utf-8")
    sha = hashlib.sha256(xml).hexdigest()
    target = f"{ctx.cfg.server_name}/{ctx.cfg.database_name}"
    imported = read_json(ctx.home / IMPORTED_FILE, {}) or {}
    name = str(definition.get("name", ""))
    out = ensure_dir(ctx.home / "tmp") / f"{code}.xml"
    fresh = False
    try:
        while True:
            if imported.get(code) != {"sha256": sha, "target": target}:
                path = ensure_dir(ctx.home / "definitions") / f"{code}.RptDef"
                write_atomic(path, xml)
                import_definition(ctx.cfg, _importer(ctx.cfg), ctx.password, code, path)
                imported[code] = {"sha256": sha, "target": target}
                write_json(ctx.home / IMPORTED_FILE, imported)
                log.info("%s: report definition imported into SIMS", code)
                fresh = True
            try:
                return run_report(ctx.cfg, ctx.password, code, name, out)
            except ExtractError as exc:
                # SIMS lost the definition (a restored database): import it once more.
                if fresh or "report not found" not in str(exc).lower():
                    raise
                log.warning("%s: SIMS no longer knows the report; importing it again", code)
                imported.pop(code, None)
    finally:
        out.unlink(missing_ok=True)


def run(
    home: Path, *, reports_wanted: list[str], extract_only: bool
) -> tuple[bool, dict[str, Any]]:
    ctx = Context.open(home)
    st = ctx.status
    st.last_run = {"started_at": now(), "finished_at": None, "outcome": "running"}
    results: list[ReportResult] = []
    summary: dict[str, Any] = {"reports": results}
    for name in ("extract", "filter", "upload"):
        st.lights[name] = {"light": "yellow", "message": "waiting"}
        st.running.add(name)
    st.set("configuration", "yellow", "checking", running=True)

    def finish(outcome: str) -> tuple[bool, dict[str, Any]]:
        st.stopped(outcome)
        st.last_run.update(finished_at=now(), outcome=outcome)
        st.queued = len(queue.pending(home / "queue"))
        st.save()
        log.info("run finished: %s", outcome)
        return st.ok, {
            "ok": st.ok,
            "outcome": outcome,
            "lights": st.lights,
            "queued": st.queued,
            "reports": [vars(x) for x in results],
            **{k: v for k, v in summary.items() if k != "reports"},
        }

    if not config_check(ctx):
        return finish("not configured")
    try:
        server = ctx.server()
    except ConfigError as exc:
        log.error("%s", exc)
        st.set("configuration", "red", str(exc))
        return finish("not configured")
    with server:
        try:
            outcome = _run(ctx, server, results, summary, reports_wanted, extract_only)
        except LicenceRefused as exc:
            log.error("%s", exc)
            st.set("upload", "red", str(exc))
            outcome = "licence key refused"
        except Exception as exc:
            # Whatever went wrong, the lights and the server say so rather than stay yellow.
            log.exception("the run stopped on an error")
            outcome = f"stopped by an error: {type(exc).__name__}: {exc}"
        ok, out = finish(outcome)
        ctx.post_status(server)
        return ok, out


def _run(
    ctx: Context,
    server: Server,
    results: list[ReportResult],
    summary: dict[str, Any],
    wanted: list[str],
    extract_only: bool,
) -> str:
    st = ctx.status
    st.set("extract", "yellow", "fetching the report tree", running=True)
    reports, note = fetch_tree(ctx, server)
    if reports is None:
        st.set("extract", "red", f"no report tree: {note}")
        st.set("filter", "red", "nothing to filter")
        return "no report tree"
    summary["tree"] = note or "fresh"
    accepted = {r["report"]: r for r in reports if r.get("state") == "accepted"}
    known = {r["report"]: r for r in reports}
    unknown = [w for w in wanted if w not in accepted]
    if unknown:
        words = [
            f"{w} ({'not ' + str(known[w].get('state')).replace('_', ' ') if w in known else 'no such report'})"
            for w in unknown
        ]
        message = "not accepted by the school, so not extracted: " + ", ".join(words)
        log.error("%s", message)
        st.set("extract", "red", message)
        return "report not accepted"
    chosen = [accepted[w] for w in dict.fromkeys(wanted)] if wanted else list(accepted.values())
    if not chosen:
        st.set("extract", "yellow", "the school has accepted no report yet")
    failed: list[str] = []
    dropped_any: list[str] = []
    target = ctx.home / ("extracts" if extract_only else "queue")
    for r in chosen:
        code = r["report"]
        res = ReportResult(code)
        results.append(res)
        st.set("extract", "yellow", f"extracting {code}", running=True)
        try:
            data = extract_one(ctx, r)
            root = parse_report(data)
            check_ids(root)
        except ExtractError as exc:
            message = str(exc) if str(exc).startswith(code) else f"{code}: {exc}"
            log.error("%s", message)
            res.state, res.error = "failed", message
            failed.append(message)
            continue
        st.set("filter", "yellow", f"filtering {code}", running=True)
        filtered = filter_report(root, allowed_captions(r))
        res.rows, res.dropped = filtered.records, filtered.dropped
        for caption, n in filtered.dropped.items():
            log.info("%s: dropped %d values of field %s (not uploaded)", code, n, caption)
            dropped_any.append(f"{code}: {caption} ({n})")
        item = queue.put(target, code, filtered.xml)
        res.file, res.state = str(item.xml), "extracted" if extract_only else "queued"
        log.info("%s: %d records extracted to %s", code, filtered.records, item.xml)
    if failed:
        st.set("extract", "red", "; ".join(failed))
    elif chosen:
        st.set("extract", "green", f"extracted {', '.join(r['report'] for r in chosen)}")
    if dropped_any:
        st.set("filter", "yellow", "dropped fields not uploaded: " + "; ".join(dropped_any))
    elif any(x.rows is not None for x in results):
        st.set("filter", "green", "every field extracted is one the school sends")
    elif failed:
        st.set("filter", "red", "nothing was extracted to filter")
    else:
        st.set("filter", "green", "nothing to filter")
    if extract_only:
        where = ctx.home / "extracts"
        print(f"Extracts written to {where} (nothing uploaded, the queue is untouched).")
        st.set("upload", "yellow", f"not uploaded (--extract-filter-only): extracts in {where}")
        return "extracted only" if not failed else "extract failed"
    return _upload_all(ctx, server, results, extract_failed=bool(failed))


def _upload_all(
    ctx: Context, server: Server, results: list[ReportResult], *, extract_failed: bool = False
) -> str:
    st = ctx.status
    items = queue.pending(ctx.home / "queue")
    by_file = {x.file: x for x in results if x.file}
    if not items:
        st.set("upload", "green", "nothing to send")
        return "extract failed" if extract_failed else "nothing to send"
    uploader = Uploader(server)
    sent, rejected = 0, []
    for n, item in enumerate(items):
        st.set(
            "upload", "yellow", f"sending {item.xml.name} ({n + 1} of {len(items)})", running=True
        )
        res = by_file.get(str(item.xml))
        try:
            done = uploader.send(item)
        except GaveUp as exc:
            left = len(queue.pending(ctx.home / "queue"))
            message = f"could not reach {server.host}: {left} extracts queued, sent on the next run"
            log.error("%s (%s)", message, exc)
            st.set("upload", "red", message)
            return "server unreachable"
        except Rejected as exc:
            moved = queue.move(item, ctx.home / "rejected")
            message = f"the server refused {exc}; the file is kept in {moved.parent}"
            log.error("%s", message)
            rejected.append(message)
            if res:
                res.state, res.error = "rejected", str(exc)
            continue
        queue.remove(item)
        sent += 1
        if res:
            res.state, res.upload_id, res.upload = "stored", done.upload_id, done.upload
    if rejected:
        st.set("upload", "red", "; ".join(rejected))
        return "rejected"
    st.set("upload", "green", f"sent {sent} extract{'s' if sent != 1 else ''} to {server.host}")
    return "extract failed" if extract_failed else "uploaded"
