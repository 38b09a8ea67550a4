"""The Wonde simulator (to be built: issue 9)."""

from __future__ import annotations

from .server import SimRequest, SimResponse, SimServer


class WondeSimulator(SimServer):
    vendor = "wonde"

    def handle(self, request: SimRequest) -> SimResponse:
        return SimResponse.json({"message": "not built yet"}, 501)
