"""Who accepted each terms version: ``gw_terms_version.accepted_by`` (from TermsAccepted), so the API can say who
still has to accept a pending amendment.

Rows written before this column are left empty; ``settle gateway`` rebuilds an agreement's read model from its
stored events after a reorg, and a fresh read of the chain fills it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_terms_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accepted_by", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("gw_terms_version", schema=None) as batch_op:
        batch_op.drop_column("accepted_by")
