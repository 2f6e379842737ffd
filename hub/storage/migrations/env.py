"""Alembic environment: runs only on a connection handed over by `hub.storage.engine`.

The hub migrates programmatically at start-up, inside the transaction that
`engine.migrate` opened, so there is no alembic.ini and no URL to read here.
"""

from __future__ import annotations

from alembic import context

from hub.storage.schema import metadata


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through hub.storage.engine.migrate, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
