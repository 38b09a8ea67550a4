"""Shared fixtures. Database tests run on whichever database DATABASE_URL names
(the CI runs the suite twice: SQLite and PostgreSQL)."""

import os

from cryptography.fernet import Fernet

# Connection secrets in tests are sealed under a key made for this test session (passed on
# to the processes tests start), never a key file in the working tree.
os.environ.setdefault("ROLLSYNC_CONNECTION_KEYS", Fernet.generate_key().decode())
