"""What a school's MIS connection means to a person: its state in words and its light,
the same at every door (AutoUpdate Settings, the LA dashboard, `rollsync mis status`)."""

from __future__ import annotations

from dataclasses import dataclass

NOT_SET_UP = "not set up"
AWAITING_APPROVAL = "awaiting approval"
CONNECTED = "connected"
FAILING = "failing"

# Pulls failed in a row before the light turns red: one failure is amber (the schedule
# tries again within the hour), a second means nobody's data is arriving.
RED_AFTER_FAILURES = 2


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
) -> ConnectionView:
    """`state` is the stored state ("awaiting_approval", "connected", "failing") or None
    when the school has no connection."""
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
