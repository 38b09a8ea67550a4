"""Writes. Each service is keyword-only, typed, atomic, and writes its audit
events in the same transaction (`<entity>_<action>` names)."""
