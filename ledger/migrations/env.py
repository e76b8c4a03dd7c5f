"""Alembic environment: runs on the connection handed in by ledger.db.upgrade_database, or on
FUNDLEDGER_DATABASE_URL when called from the ``alembic`` command line."""

from alembic import context
from sqlmodel import SQLModel

import ledger.schema  # noqa: F401  (registers the tables on SQLModel.metadata)
from ledger.db import make_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine()
    with engine.begin() as own_connection:
        context.configure(connection=own_connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
