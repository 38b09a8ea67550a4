"""The report tree the server sends (GET reports), and its cached copy in the home."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rollsync_agent.home import read_json, write_json
from rollsync_agent.status import now

CACHE_FILE = "reports.json"
SENT_STATES = ("Mandatory", "Uploaded")


class TreeError(ValueError):
    pass


def check(tree: Any) -> list[dict[str, Any]]:
    """The tree's reports, or TreeError when the answer is not shaped as the protocol says."""
    reports = tree.get("reports") if isinstance(tree, dict) else None
    if not isinstance(reports, list):
        raise TreeError("the server's report tree has no list of reports")
    for i, r in enumerate(reports):
        if not isinstance(r, dict) or not isinstance(r.get("report"), str):
            raise TreeError(f"the server's report tree: entry {i} has no report code")
        if not isinstance(r.get("fields", []), list):
            raise TreeError(f"the server's report tree: {r['report']} has no list of fields")
        if r.get("state") == "accepted" and not isinstance(r.get("definition"), dict):
            raise TreeError(
                f"the server's report tree: {r['report']} is accepted without a definition"
            )
    return reports


def save_cache(home: Path, tree: dict[str, Any]) -> None:
    write_json(home / CACHE_FILE, {"fetched_at": now(), "tree": tree})


def load_cache(home: Path) -> tuple[dict[str, Any], str] | None:
    raw = read_json(home / CACHE_FILE, None)
    if not isinstance(raw, dict) or not isinstance(raw.get("tree"), dict):
        return None
    return raw["tree"], str(raw.get("fetched_at", "?"))


def allowed_captions(report: dict[str, Any]) -> frozenset[str]:
    return frozenset(
        str(f.get("caption"))
        for f in report.get("fields", [])
        if isinstance(f, dict) and f.get("state") in SENT_STATES
    )


STATE_WORDS = {"accepted": "accepted", "available": "available", "not_available": "not available"}


def render(reports: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for r in reports:
        state = STATE_WORDS.get(str(r.get("state")), str(r.get("state")))
        lines.append(f"[{state}] {r.get('label') or r['report']} ({r['report']})")
        for f in r.get("fields", []):
            if isinstance(f, dict):
                label = f.get("label") or f.get("field") or ""
                extra = f"  ({label})" if label and label != f.get("caption") else ""
                lines.append(f"    {f.get('state', '?'):<13} {f.get('caption')}{extra}")
    return "\n".join(lines)
