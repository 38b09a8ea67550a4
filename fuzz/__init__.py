"""Fuzzing the importers: `./dev fuzz [seconds]` (on demand, never in CI)."""
