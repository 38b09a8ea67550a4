"""The light of a push connection (`domain.connection_status`, pure): green while the
evening pushes arrive; yellow after two school days (weekday evenings at 18:00) with no
push; red after more, with the help pages' hint to press Save, not Save & Run."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rollsync.domain.connection_status import PUSH_HINT, connection_view, school_days_missed

LONDON = ZoneInfo("Europe/London")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in the week of Monday 30 November 2026 (1 = Monday ... 7 = Sunday, 8 = the
    next Monday ...)."""
    return datetime(2026, 11, 29, hour, minute, tzinfo=LONDON) + timedelta(days=day)


def view(last: datetime | None, now: datetime, issued: datetime | None = None) -> tuple[str, str]:
    v = connection_view(
        state="connected", push=True, last_push_at=last, waiting_since=issued, now=now
    )
    return v.light, v.words


@pytest.mark.parametrize(
    ("last", "now", "missed"),
    [
        (at(1, 18, 30), at(1, 23), 0),  # Monday's push, Monday night
        (at(1, 18, 30), at(2, 17, 59), 0),  # Tuesday before 18:00
        (at(1, 18, 30), at(2, 18, 0), 1),  # Tuesday's evening came
        (at(1, 18, 30), at(3, 18, 30), 2),  # ... and Wednesday's
        (at(1, 18, 30), at(4, 19), 3),
        (at(1, 17, 0), at(1, 18, 0), 1),  # a run by hand at 17:00 is not that evening's
        (at(5, 18, 30), at(7, 23), 0),  # Friday's push: the weekend does not count
        (at(5, 18, 30), at(8, 19), 1),  # Monday
        (at(5, 18, 30), at(9, 19), 2),  # Tuesday
        (at(1, 18, 30), at(15, 19), 10),  # two weeks
        (at(2, 9), at(1, 9), 0),  # a clock that went back
    ],
)
def test_school_days_missed(last: datetime, now: datetime, missed: int) -> None:
    assert school_days_missed(last, now) == missed


def test_green_while_pushes_arrive() -> None:
    light, words = view(at(1, 18, 30), at(2, 19))
    assert light == "green"
    assert "the last push arrived Mon 30 Nov 2026 18:30" in words


def test_yellow_after_two_school_days_then_red() -> None:
    light, words = view(at(1, 18, 30), at(3, 18, 30))
    assert light == "yellow"
    assert words == f"No push from Bromcom for 2 school days. {PUSH_HINT}."
    assert "press Save (not Save & Run)" in words and "after 18:00" in words
    light, words = view(at(1, 18, 30), at(4, 18, 30))
    assert light == "red" and words.startswith("No push from Bromcom for 3 school days.")
    assert PUSH_HINT in words


def test_a_friday_push_stays_green_over_the_weekend() -> None:
    assert view(at(5, 18, 30), at(8, 12))[0] == "green"
    assert view(at(5, 18, 30), at(9, 18, 1))[0] == "yellow"


def test_never_pushed_counts_from_the_credentials() -> None:
    light, words = view(None, at(2, 12), issued=at(1, 10))
    assert light == "green" and words.startswith("Waiting for the first push from Bromcom")
    light, words = view(None, at(4, 12), issued=at(1, 10))  # Mon, Tue, Wed evenings
    assert light == "red"
    assert "in the 3 school days since the push credentials were issued" in words


def test_new_credentials_give_the_school_time_to_enter_them() -> None:
    # the last push was a week ago; credentials were replaced this morning
    assert view(at(1, 18, 30), at(8, 12), issued=at(8, 9))[0] == "green"


def test_not_set_up_is_red_and_says_what_to_do() -> None:
    v = connection_view(state=None, push=True, now=at(1, 12))
    assert v.light == "red" and "issue the push credentials" in v.words


def test_a_pull_connection_is_unchanged() -> None:
    v = connection_view(state="connected", last_outcome="applied")
    assert (v.light, v.words) == ("green", "Connected; the last pull was applied.")
