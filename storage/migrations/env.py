"""Alembic environment: runs on the connection `storage.engine.migrate` hands over.

Logging is left alone (no ``fileConfig``): the application owns its configuration.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from storage.models import Base

_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("palabre migrations run through storage.engine.migrate, online only")

context.configure(connection=_connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
