"""The IRIS iSAMS / Ed:gen connector (to be built: issue 9)."""

from __future__ import annotations

from .base import CheckResult, Connection, Connector, Pulled, PullRequest, SettingField
from .errors import ConnectorError
from .registry import register


@register
class IsamsConnector(Connector):
    name = "isams"
    mis = "IRIS iSAMS"
    label = "IRIS iSAMS / Ed:gen"
    fmt = "isams-api"
    fields = (SettingField("url", "MIS URL"),)

    def check(self, connection: Connection) -> CheckResult:
        raise ConnectorError("the IRIS iSAMS / Ed:gen connector is not built yet")

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        raise ConnectorError("the IRIS iSAMS / Ed:gen connector is not built yet")
