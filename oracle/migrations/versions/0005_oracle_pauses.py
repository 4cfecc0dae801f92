"""oracle: pauses of agreements

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-20

``oracle_pauses`` keeps each time an agreement was paused (from its ``AgreementPaused`` and ``AgreementResumed``
events, followed every submitter round): records that occurred in a pause are held in quarantine with the reason.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oracle_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("paused_at", sa.BigInteger(), nullable=False),
        sa.Column("paused_block", sa.BigInteger(), nullable=True),
        sa.Column("paused_by", sa.String(length=42), nullable=True),
        sa.Column("resumed_at", sa.BigInteger(), nullable=True),
        sa.Column("resumed_block", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["oracle_agreements.id"], name=op.f("fk_oracle_pauses_agreement_id_oracle_agreements")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_pauses")),
    )
    op.create_index(op.f("ix_oracle_pauses_agreement_id"), "oracle_pauses", ["agreement_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_oracle_pauses_agreement_id"), table_name="oracle_pauses")
    op.drop_table("oracle_pauses")
