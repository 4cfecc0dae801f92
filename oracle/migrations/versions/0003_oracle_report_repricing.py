"""oracle: when a report's transaction was last priced, and how often it was re-priced

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

A transaction that waits in the node's pool is signed again with the same nonce and higher fees (``priced_at``
says when its current fees were chosen; ``reprices`` counts the replacements).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oracle_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reprices", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE oracle_reports SET priced_at = submitted_at WHERE submitted_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("oracle_reports", schema=None) as batch_op:
        batch_op.drop_column("reprices")
        batch_op.drop_column("priced_at")
