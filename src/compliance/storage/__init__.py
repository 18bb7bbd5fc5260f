"""Storage: the SQLAlchemy schema, migrations and repositories (SQLite and PostgreSQL)."""
