"""rollsync's on-premises agent for SIMS schools (no Django, no rollsync import, Python 3.9+)."""

__version__ = "0.1.0"
