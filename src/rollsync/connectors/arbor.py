"""The Arbor connector (to be built: issue 9)."""

from __future__ import annotations

from .base import CheckResult, Connection, Connector, Pulled, PullRequest, SettingField
from .errors import ConnectorError
from .registry import register


@register
class ArborConnector(Connector):
    name = "arbor"
    mis = "Arbor"
    label = "Arbor"
    fmt = "arbor-api"
    fields = (SettingField("url", "MIS URL"),)

    def check(self, connection: Connection) -> CheckResult:
        raise ConnectorError("the Arbor connector is not built yet")

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        raise ConnectorError("the Arbor connector is not built yet")
