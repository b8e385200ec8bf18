"""Alembic migrations of the store, applied by `storage.engine.migrate`."""
