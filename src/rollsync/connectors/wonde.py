"""The Wonde connector (to be built: issue 9)."""

from __future__ import annotations

from .base import CheckResult, Connection, Connector, Pulled, PullRequest, SettingField
from .errors import ConnectorError
from .registry import register


@register
class WondeConnector(Connector):
    name = "wonde"
    mis = "Wonde"
    label = "Wonde"
    fmt = "wonde-api"
    fields = (SettingField("url", "MIS URL"),)

    def check(self, connection: Connection) -> CheckResult:
        raise ConnectorError("the Wonde connector is not built yet")

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        raise ConnectorError("the Wonde connector is not built yet")
