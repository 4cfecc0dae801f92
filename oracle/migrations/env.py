"""Alembic environment of the oracle (version table ``alembic_version_oracle``)."""

from oracle.models import Base
from settle.migrations_env import run

run(Base.metadata)
