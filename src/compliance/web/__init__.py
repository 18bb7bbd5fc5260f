"""Web pages (SPEC §10) over the same database."""
