"""The body of every component's Alembic ``env.py``: online migrations on the connection ``settle.db.upgrade``
passes in (or on ``sqlalchemy.url`` when run from the ``alembic`` command line)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, create_engine


def run(target_metadata: MetaData) -> None:
    config = context.config
    version_table = config.get_main_option("version_table") or "alembic_version"
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            _migrate(conn, target_metadata, version_table)
            conn.commit()
        return
    _migrate(connection, target_metadata, version_table)


def _migrate(connection, target_metadata: MetaData, version_table: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
