"""Alembic environment: runs on the connection handed over by datamill.feedback.db.migrate."""

from __future__ import annotations

from alembic import context

from datamill.feedback.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by the alembic command line
    from sqlalchemy import create_engine

    from datamill.feedback.db import database_url

    connection = create_engine(database_url()).connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
