"""The sign-in routes' rate limits in the database (gw_rate_hit): held in each process's memory, they gave a client
the attempts of one process times the processes serving (``settle gateway run --workers N``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gw_rate_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("limiter", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_rate_hit")),
    )
    op.create_index("ix_gw_rate_hit_key", "gw_rate_hit", ["limiter", "key", "at_ms"])
    op.create_index("ix_gw_rate_hit_at", "gw_rate_hit", ["limiter", "at_ms"])


def downgrade() -> None:
    op.drop_index("ix_gw_rate_hit_at", table_name="gw_rate_hit")
    op.drop_index("ix_gw_rate_hit_key", table_name="gw_rate_hit")
    op.drop_table("gw_rate_hit")
