"""Alembic migrations of the compliance schema (run by compliance.storage.migrate, no alembic.ini)."""
