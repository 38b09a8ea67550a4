"""The agent's light (`domain.connection_status.agent_view`): not set up, never contacted,
silent for two school days (counted across a weekend), the agent's own lights."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from rollsync.domain.connection_status import AGENT_HINT, connection_view

LONDON = ZoneInfo("Europe/London")
GREEN = {
    n: {"light": "green", "message": "ok"} for n in ("configuration", "extract", "filter", "upload")
}


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=LONDON)  # 27th: a Friday


def view(
    last: datetime | None,
    now: datetime,
    lights: dict | None = None,
    state: str | None = "connected",
):  # type: ignore[no-untyped-def,type-arg]
    return connection_view(
        state=state,
        push=True,
        agent=True,
        last_contact_at=last,
        agent_lights=GREEN if lights is None else lights,
        now=now,
    )


def test_not_set_up_is_red_and_never_contacted_is_yellow() -> None:
    none = view(None, _at(30, 9), state=None)
    assert (none.state, none.light) == ("not set up", "red")
    assert "issue a licence key here" in none.words
    waiting = view(None, _at(30, 9), lights={})
    assert (waiting.state, waiting.light, waiting.words) == (
        "awaiting agent",
        "yellow",
        "Waiting for the agent: install it on the SIMS server and enter the licence key.",
    )


@pytest.mark.parametrize(
    ("last", "now", "light", "missed"),
    [
        (_at(27, 19), _at(30, 9), "green", 0),  # Friday evening to Monday morning: a weekend
        (_at(27, 19), _at(30, 18, 30), "green", 1),  # Monday evening passed
        (_at(27, 19), datetime(2026, 12, 1, 18, 30, tzinfo=LONDON), "red", 2),  # Tuesday
        (_at(27, 17), _at(30, 18, 30), "red", 2),  # Friday's and Monday's evenings
        (_at(26, 19), _at(27, 18, 30), "green", 1),  # Thursday to Friday evening
    ],
)
def test_silent_for_two_school_days_is_red(
    last: datetime, now: datetime, light: str, missed: int
) -> None:
    v = view(last, now)
    assert v.light == light
    if light == "red":
        assert v.state == "agent silent"
        assert v.words.startswith(f"No contact from the rollsync agent for {missed} school days")
        assert AGENT_HINT in v.words
    else:
        assert (v.state, v.words) == (
            "connected",
            f"The agent's last contact was {last:%a %d %b %Y %H:%M}.",
        )


def test_the_agents_own_lights() -> None:
    now, last = _at(30, 9), _at(30, 8)
    red = view(
        last,
        now,
        {
            **GREEN,
            "extract": {"light": "red", "message": "CommandReporter failed"},
            "filter": {"light": "yellow", "message": "slow"},
        },
    )
    assert (red.state, red.light, red.words) == (
        "failing",
        "red",
        "The agent's extract light is red: CommandReporter failed",
    )
    yellow = view(last, now, {**GREEN, "upload": {"light": "yellow", "message": "3 queued"}})
    assert (yellow.state, yellow.light, yellow.words) == (
        "connected",
        "yellow",
        "The agent's upload light is yellow: 3 queued",
    )
    grey = view(last, now, {**GREEN, "upload": {"light": "grey", "message": "not run yet"}})
    assert grey.light == "green"
    # silence outranks what the agent last said
    silent = view(_at(20, 9), now, {**GREEN, "upload": {"light": "yellow", "message": "x"}})
    assert (silent.state, silent.light) == ("agent silent", "red")
