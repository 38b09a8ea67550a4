"""What a run's status means to a person: one wording for every door.

A run's stored status is one of preview, held, applied, failed, rejected, superseded.
What a page, the JSON API and the command show is a little more than that:

- an applied run with rejected rows is "Applied with N rejected rows" (amber, never
  green: a partial run must never look like a clean one);
- a held run that waits for the school's held people run is "Waiting for run N", not a
  guard hold a person should approve (it is planned again by itself when run N is
  approved or rejected).

Also here: which reports wait for a held people run (`WAITS_ON`), and the grouping of a
run's messages by kind (the same message apart from row and IDs).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rollsync.domain.reports import (
    ATTENDANCE,
    CONTACTS,
    GROUPS,
    STAFF,
    STAFF_FUTURE,
    STUDENTS,
    STUDENTS_FUTURE,
)

# The hold code of a run that waits for another (held) run of its school.
WAITS_FOR_RUN = "waits_for_run"

# Reports that name people listed by other reports, and the reports they wait for when a
# run of one of those is held: Groups & Classes name pupils and staff, Attendance pupils,
# Contacts the pupils they are linked to. A bundle (no single report) lists people itself.
WAITS_ON: Mapping[str, frozenset[str]] = {
    GROUPS: frozenset({STUDENTS, STUDENTS_FUTURE, STAFF, STAFF_FUTURE}),
    ATTENDANCE: frozenset({STUDENTS}),
    CONTACTS: frozenset({STUDENTS, STUDENTS_FUTURE}),
}

# Tones the pages colour a status with.
GREEN, AMBER, RED, GREY = "green", "amber", "red", "grey"


@dataclass(frozen=True, slots=True)
class RunView:
    code: str  # applied | applied_with_rejections | held | waiting | failed | ...
    label: str  # the words shown, e.g. "Applied with 3 rejected rows"
    tone: str  # green | amber | red | grey

    @property
    def clean(self) -> bool:
        return self.tone == GREEN


def rows_word(n: int) -> str:
    return f"{n:,} rejected row" + ("" if n == 1 else "s")


def run_view(
    *, status: str, counts: Mapping[str, Any] | None, waits_for: int | None = None
) -> RunView:
    """How a run's status reads. `counts` is the run's counts (its "rejected" is the
    number of rejected rows); `waits_for` the run it waits for, if any."""
    rejected = int((counts or {}).get("rejected", 0) or 0)
    if status == "applied":
        if rejected:
            return RunView("applied_with_rejections", f"Applied with {rows_word(rejected)}", AMBER)
        return RunView("applied", "Applied", GREEN)
    if status == "held":
        if waits_for is not None:
            return RunView("waiting", f"Waiting for run {waits_for}", GREY)
        return RunView("held", "Held", RED)
    if status == "failed":
        return RunView("failed", "Failed", RED)
    if status == "rejected":
        return RunView("rejected", "Rejected", RED)
    if status == "superseded":
        return RunView("superseded", "Superseded", GREY)
    if status == "preview":
        if rejected:
            return RunView("preview", f"Preview with {rows_word(rejected)}", AMBER)
        return RunView("preview", "Preview", GREY)
    return RunView(status, status.replace("_", " ").capitalize(), GREY)


# --- messages grouped by kind ------------------------------------------------------------

# IDs, numbers and quoted values vary between messages of one kind.
_VARYING = re.compile(r"'[^']*'|\"[^\"]*\"|\b[0-9A-Za-z]*[0-9][0-9A-Za-z./:-]*\b")


def message_kind(message: str) -> str:
    """A message with its IDs and numbers blanked: messages of one kind share it."""
    return _VARYING.sub("…", message)


@dataclass(slots=True)
class MessageGroup:
    kind: str  # the message with its IDs blanked
    field: str | None
    source: str | None
    count: int = 0
    examples: list[Mapping[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.examples)


def group_messages(errors: Iterable[Mapping[str, Any]], *, examples: int = 3) -> list[MessageGroup]:
    """A run's messages grouped by kind (same message apart from row and IDs, same field
    and file), commonest first; each group keeps its first `examples` messages."""
    groups: dict[tuple[str, str | None, str | None], MessageGroup] = {}
    for error in errors:
        message = str(error.get("message", ""))
        key = (message_kind(message), error.get("field"), error.get("source"))
        group = groups.get(key)
        if group is None:
            group = groups[key] = MessageGroup(key[0], key[1], key[2])
        group.count += 1
        if len(group.examples) < examples:
            group.examples.append(error)
    return sorted(groups.values(), key=lambda g: -g.count)


def commonest_reason(errors: Iterable[Mapping[str, Any]]) -> str:
    """An example message of the commonest kind among row messages ("" when none)."""
    rows = [e for e in errors if e.get("row") is not None and e.get("source") != "notice"]
    if not rows:
        return ""
    kinds = Counter(message_kind(str(e.get("message", ""))) for e in rows)
    top = kinds.most_common(1)[0][0]
    for e in rows:
        if message_kind(str(e.get("message", ""))) == top:
            return str(e.get("message", ""))
    return ""  # pragma: no cover - the commonest kind has a message
