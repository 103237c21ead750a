"""Persistence: models, repositories, engines and sessions, the SQL ledger, set-based
settlement, and the Alembic migrations shipped in the package."""
