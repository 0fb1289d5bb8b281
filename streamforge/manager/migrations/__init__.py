"""Alembic migrations of the manager's database (run by `streamforge serve` at start)."""
