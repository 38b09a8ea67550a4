"""Operating rollsync: Prometheus metrics read from the database at scrape time, health
and readiness, structured JSON logs with the school, run and task in hand, retention of
raw uploads, and the backup and restore drill (docs/operations.md)."""
