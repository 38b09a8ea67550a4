"""The IRIS iSAMS / Ed:gen simulator (to be built: issue 9)."""

from __future__ import annotations

from .server import SimRequest, SimResponse, SimServer


class IsamsSimulator(SimServer):
    vendor = "isams"

    def handle(self, request: SimRequest) -> SimResponse:
        return SimResponse.json({"message": "not built yet"}, 501)
