"""Benchmarks, run on demand with `./dev bench` (never in CI, never as timed test assertions)."""
