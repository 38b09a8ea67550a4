"""RM Integris: no partner API is published (shared/reference/mis-apis.md section 5), so
rollsync reaches Integris through an aggregator that covers it: Wonde, by default.

This module is the one place where a native Integris API would plug in: replace the
Wonde base class with a connector of Integris's own and nothing else changes (the MIS
facts, the schedule and the school's set-up steps stay). Until then the school does what
the help pages say (grant access in Integris Datashare, accept the reports) and the
region connects the school's Wonde record with the region's Wonde token.

Integris runs on weekday evenings only and has no Force run (`domain/mis.py`).
"""

from __future__ import annotations

from .base import SettingField
from .registry import register
from .wonde import WondeConnector

VIA = "Wonde"  # the aggregator that carries Integris data today


@register
class IntegrisConnector(WondeConnector):
    name = "integris"
    mis = "Integris"
    label = f"Integris (through {VIA})"
    default_schedule = "weekdays 18:30"
    fields = (
        SettingField(
            "wonde_school",
            "Wonde school ID",
            help="After the school grants access in Integris Datashare (AutoUpdate, under "
            "third party providers), its ID on the school's page in the Wonde dashboard",
        ),
        SettingField(
            "token",
            "Wonde API token",
            secret=True,
            help="The token of rollsync's Wonde app for the region",
        ),
        SettingField("url", "Wonde API URL", required=False, help="Leave empty for Wonde's"),
    )
