"""What a school's MIS connection means to a person: its state in words and its light,
the same at every door (AutoUpdate Settings, the LA dashboard, `rollsync mis status`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

NOT_SET_UP = "not set up"
AWAITING_APPROVAL = "awaiting approval"
CONNECTED = "connected"
FAILING = "failing"
PUSH_OVERDUE = "push overdue"  # a push connection (Bromcom) whose evening pushes stopped
AWAITING_AGENT = "awaiting agent"  # a licence key issued; the agent has not called yet
AGENT_SILENT = "agent silent"  # the agent stopped calling

# Pulls failed in a row before the light turns red: one failure is amber (the schedule
# tries again within the hour), a second means nobody's data is arriving.
RED_AFTER_FAILURES = 2

# A push connection (Bromcom) is pushed every evening after 18:00. School days (weekday
# evenings) that passed with no push: two is yellow, more is red, with the help pages'
# hint (a schedule saved with "Save & Run" runs once and is not kept).
PUSH_EVENING = time(18, 0)
PUSH_YELLOW_AFTER_DAYS = 2
PUSH_HINT = (
    "In Bromcom, press Save (not Save & Run) on the rollsync schedule so it runs every "
    "evening after 18:00"
)


# The rollsync agent (SIMS) calls at least once a school day; silent for this many school
# days (weekday evenings passed) is red: the server is off or the schedule is gone.
AGENT_RED_AFTER_DAYS = 2
AGENT_HINT = (
    "check that the SIMS server is on and that the agent's schedule exists there "
    "(rollsync-agent schedule)"
)
AGENT_LIGHTS = ("configuration", "extract", "filter", "upload")  # what the agent reports


@dataclass(frozen=True, slots=True)
class ConnectionView:
    state: str  # NOT_SET_UP, AWAITING_APPROVAL, CONNECTED, FAILING
    light: str  # "green", "yellow", "red"
    words: str  # one sentence for the page


def connection_view(
    *,
    state: str | None,
    failures: int = 0,
    credentials_refused: bool = False,
    last_outcome: str = "",
    last_error: str = "",
    push: bool = False,
    last_push_at: datetime | None = None,
    waiting_since: datetime | None = None,
    now: datetime | None = None,
    agent: bool = False,
    last_contact_at: datetime | None = None,
    agent_lights: Mapping[str, Mapping[str, str]] | None = None,
) -> ConnectionView:
    """`state` is the stored state ("awaiting_approval", "connected", "failing") or None
    when the school has no connection.

    `push`: the MIS pushes to rollsync (Bromcom), so the light follows the pushes: the
    last push (`last_push_at`), or when there has been none, since the credentials were
    issued (`waiting_since`), counted in school days up to `now` (all in the LA's time).

    `agent`: the rollsync agent on the school's server delivers (SIMS), so the light
    follows its calls (`last_contact_at`) and the lights it last reported (`agent_lights`:
    name -> {"light", "message"})."""
    if agent:
        return agent_view(
            state=state, last_contact_at=last_contact_at, lights=agent_lights or {}, now=now
        )
    if push:
        return _push_view(
            state=state, last_push_at=last_push_at, waiting_since=waiting_since, now=now
        )
    if state is None:
        return ConnectionView(NOT_SET_UP, "red", "No MIS connection: nothing is pulled.")
    if state == "awaiting_approval":
        return ConnectionView(
            AWAITING_APPROVAL,
            "yellow",
            "MISSING ENDPOINT URL: waiting for the school to approve access in its MIS.",
        )
    if state == "failing" or last_outcome == "failed":
        if credentials_refused:
            return ConnectionView(
                FAILING, "red", f"Credentials refused: enter them again. {last_error}".strip()
            )
        light = "red" if failures >= RED_AFTER_FAILURES else "yellow"
        times = f"{failures} pulls in a row failed" if failures > 1 else "The last pull failed"
        return ConnectionView(FAILING, light, f"{times}: {last_error}".strip())
    if last_outcome == "held":
        return ConnectionView(CONNECTED, "yellow", "The last pull is held for approval.")
    if not last_outcome:
        return ConnectionView(CONNECTED, "green", "Connected; not pulled yet.")
    return ConnectionView(CONNECTED, "green", f"Connected; the last pull was {last_outcome}.")


def school_days_missed(since: datetime, now: datetime) -> int:
    """Weekday evenings (18:00) that came after `since` and by `now`: the pushes that
    should have arrived since then. Both in the same time zone (the LA's)."""
    if now <= since:
        return 0
    first: date = since.date()
    if datetime.combine(first, PUSH_EVENING, tzinfo=since.tzinfo) <= since:
        first += timedelta(days=1)
    last: date = now.date()
    if datetime.combine(last, PUSH_EVENING, tzinfo=now.tzinfo) > now:
        last -= timedelta(days=1)
    if last < first:
        return 0
    days = (last - first).days + 1
    weeks, rest = divmod(days, 7)
    missed = weeks * 5
    for n in range(rest):
        if (first + timedelta(days=weeks * 7 + n)).weekday() < 5:
            missed += 1
    return missed


def _push_view(
    *,
    state: str | None,
    last_push_at: datetime | None,
    waiting_since: datetime | None,
    now: datetime | None,
) -> ConnectionView:
    if state is None:
        return ConnectionView(
            NOT_SET_UP,
            "red",
            "Bromcom push is not set up: issue the push credentials here and enter them in "
            "Bromcom.",
        )
    since = max((t for t in (last_push_at, waiting_since) if t is not None), default=None)
    missed = school_days_missed(since, now) if since is not None and now is not None else 0
    if missed >= PUSH_YELLOW_AFTER_DAYS:
        light = "red" if missed > PUSH_YELLOW_AFTER_DAYS else "yellow"
        what = (
            f"No push from Bromcom for {missed} school days"
            if last_push_at is not None and last_push_at >= (waiting_since or last_push_at)
            else f"No push from Bromcom in the {missed} school days since the push "
            "credentials were issued"
        )
        return ConnectionView(PUSH_OVERDUE, light, f"{what}. {PUSH_HINT}.")
    if last_push_at is None:
        return ConnectionView(
            CONNECTED,
            "green",
            "Waiting for the first push from Bromcom (it runs every evening after 18:00).",
        )
    return ConnectionView(
        CONNECTED,
        "green",
        f"Bromcom pushes every evening; the last push arrived {last_push_at:%a %d %b %Y %H:%M}.",
    )


def agent_view(
    *,
    state: str | None,
    last_contact_at: datetime | None,
    lights: Mapping[str, Mapping[str, str]],
    now: datetime | None,
) -> ConnectionView:
    """The rollsync agent's light: not set up (no licence key) red; never called yellow;
    silent for `AGENT_RED_AFTER_DAYS` school days red; else the worst light it reported
    (red, then yellow, with its message); else green."""
    if state is None:
        return ConnectionView(
            NOT_SET_UP,
            "red",
            "The rollsync agent is not set up: issue a licence key here, install the agent "
            "on the SIMS server and enter the key.",
        )
    if last_contact_at is None:
        return ConnectionView(
            AWAITING_AGENT,
            "yellow",
            "Waiting for the agent: install it on the SIMS server and enter the licence key.",
        )
    missed = school_days_missed(last_contact_at, now) if now is not None else 0
    if missed >= AGENT_RED_AFTER_DAYS:
        return ConnectionView(
            AGENT_SILENT,
            "red",
            f"No contact from the rollsync agent for {missed} school days (last "
            f"{last_contact_at:%a %d %b %Y %H:%M}): {AGENT_HINT}.",
        )
    for colour in ("red", "yellow"):
        for name in AGENT_LIGHTS:
            reported = lights.get(name) or {}
            if reported.get("light") == colour:
                message = str(reported.get("message") or "").strip() or "no message"
                return ConnectionView(
                    FAILING if colour == "red" else CONNECTED,
                    colour,
                    f"The agent's {name} light is {colour}: {message}",
                )
    return ConnectionView(
        CONNECTED, "green", f"The agent's last contact was {last_contact_at:%a %d %b %Y %H:%M}."
    )
