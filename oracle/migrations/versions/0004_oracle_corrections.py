"""oracle: usage corrections (void records, replacement records, correctUsage transactions)

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-10

``oracle_corrections`` keeps every correction with actor, signer, time and reason; ``oracle_record_voids`` the
records it voided (with the reason and the replacement); ``oracle_correction_trees`` the Merkle tree over the
records that count after it. Its ``correctUsage`` transactions are ``oracle_reports`` rows of kind ``correction``;
reports a correction covers name it in ``superseded_by``; records a correction added name it in
``oracle_records.correction_id``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oracle_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voided", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("leaf_count", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_corrections")),
    )
    op.create_index("ix_oracle_corrections_agreement", "oracle_corrections", ["agreement_id", "period"], unique=False)
    op.create_table(
        "oracle_record_voids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_pk", sa.BigInteger(), nullable=False),
        sa.Column("correction_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("replaced_by", sa.BigInteger(), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_record_voids")),
    )
    op.create_index(op.f("ix_oracle_record_voids_record_pk"), "oracle_record_voids", ["record_pk"], unique=False)
    op.create_index(op.f("ix_oracle_record_voids_correction_id"), "oracle_record_voids", ["correction_id"], unique=False)
    op.create_table(
        "oracle_correction_trees",
        sa.Column("correction_id", sa.Integer(), nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("tree", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("correction_id", name=op.f("pk_oracle_correction_trees")),
    )
    with op.batch_alter_table("oracle_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correction_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("oracle_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="usage"))
        batch_op.add_column(sa.Column("correction_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("superseded_by", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oracle_reports", schema=None) as batch_op:
        batch_op.drop_column("superseded_by")
        batch_op.drop_column("correction_id")
        batch_op.drop_column("kind")
    with op.batch_alter_table("oracle_records", schema=None) as batch_op:
        batch_op.drop_column("correction_id")
    op.drop_table("oracle_correction_trees")
    op.drop_index(op.f("ix_oracle_record_voids_correction_id"), table_name="oracle_record_voids")
    op.drop_index(op.f("ix_oracle_record_voids_record_pk"), table_name="oracle_record_voids")
    op.drop_table("oracle_record_voids")
    op.drop_index("ix_oracle_corrections_agreement", table_name="oracle_corrections")
    op.drop_table("oracle_corrections")
