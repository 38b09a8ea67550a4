"""Shared fixtures. Database tests run on whichever database DATABASE_URL names
(the CI runs the suite twice: SQLite and PostgreSQL)."""
