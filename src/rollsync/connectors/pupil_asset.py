"""Pupil Asset: no partner API is published (shared/reference/mis-apis.md section 5), so
rollsync reaches Pupil Asset through an aggregator that covers it: Wonde, by default.

This module is the one place where a native Pupil Asset API would plug in: replace the
Wonde base class with a connector of Pupil Asset's own, which would use the school
reference number Pupil Asset gives when the school approves the integration (recorded
here already, so the switch needs nothing from the school). Until then the region
connects the school's Wonde record with the region's Wonde token.

Pupil Asset sends Students, Staff and Contacts only; only the headteacher may accept or
remove its reports; it runs on weekday evenings only and has no Force run
(`domain/mis.py`).
"""

from __future__ import annotations

from .base import SettingField
from .registry import register
from .wonde import WondeConnector

VIA = "Wonde"  # the aggregator that carries Pupil Asset data today


@register
class PupilAssetConnector(WondeConnector):
    name = "pupil_asset"
    mis = "Pupil Asset"
    label = f"Pupil Asset (through {VIA})"
    default_schedule = "weekdays 18:30"
    fields = (
        SettingField(
            "school_reference",
            "School reference number",
            help="The number Pupil Asset shows once the school approves the AutoUpdate integration",
        ),
        SettingField(
            "wonde_school",
            "Wonde school ID",
            help="The school's ID on its page in the Wonde dashboard",
        ),
        SettingField(
            "token",
            "Wonde API token",
            secret=True,
            help="The token of rollsync's Wonde app for the region",
        ),
        SettingField("url", "Wonde API URL", required=False, help="Leave empty for Wonde's"),
    )
