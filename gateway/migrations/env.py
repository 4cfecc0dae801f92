"""Alembic environment of the gateway (version table ``alembic_version_gateway``)."""

from gateway.models import Base
from settle.migrations_env import run

run(Base.metadata)
