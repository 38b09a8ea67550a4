"""The Arbor simulator (to be built: issue 9)."""

from __future__ import annotations

from .server import SimRequest, SimResponse, SimServer


class ArborSimulator(SimServer):
    vendor = "arbor"

    def handle(self, request: SimRequest) -> SimResponse:
        return SimResponse.json({"message": "not built yet"}, 501)
