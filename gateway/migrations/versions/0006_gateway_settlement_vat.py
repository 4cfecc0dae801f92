"""VAT in the read model: ``gw_settlement.net`` and ``gw_settlement.vat`` (from SettlementTriggered, whose amount
is net + VAT), and ``gw_terms_version.vat_category`` / ``vat_rate`` (from the packed terms).

Rows written before VAT was part of the terms had none: their settlements are net = amount, VAT 0, their terms
versions category O (outside the scope of VAT) at 0. ``settle gateway`` rebuilds an agreement's read model from its
stored events after a reorg, and a fresh read of the chain fills every column from the events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_settlement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("net", sa.String(length=78), nullable=True))
        batch_op.add_column(sa.Column("vat", sa.String(length=78), nullable=False, server_default="0"))
    op.execute("UPDATE gw_settlement SET net = amount WHERE net IS NULL")
    with op.batch_alter_table("gw_settlement", schema=None) as batch_op:
        batch_op.alter_column("net", existing_type=sa.String(length=78), nullable=False)
    with op.batch_alter_table("gw_terms_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vat_category", sa.String(length=2), nullable=False, server_default="O"))
        batch_op.add_column(sa.Column("vat_rate", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("gw_terms_version", schema=None) as batch_op:
        batch_op.drop_column("vat_rate")
        batch_op.drop_column("vat_category")
    with op.batch_alter_table("gw_settlement", schema=None) as batch_op:
        batch_op.drop_column("vat")
        batch_op.drop_column("net")
