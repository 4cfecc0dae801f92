"""Disputes: the disputed amount of a settlement (``gw_settlement.disputed``), each dispute as the chain shows it
(``gw_dispute``, read model) and the parties' texts on dispute actions (``gw_dispute_note``, off-chain, never
deleted).

Settlements disputed before this revision get ``disputed`` 0 and no ``gw_dispute`` row; the listener fills both
for disputes it applies from now on (a reorg rebuild or a fresh read model fills them for every dispute).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_settlement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disputed", sa.String(length=78), server_default="0", nullable=False))

    op.create_table(
        "gw_dispute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.String(length=78), nullable=False),
        sa.Column("billed", sa.String(length=78), nullable=False),
        sa.Column("opened_by", sa.String(length=42), nullable=False),
        sa.Column("reason_hash", sa.String(length=66), nullable=False),
        sa.Column("opened_block", sa.BigInteger(), nullable=False),
        sa.Column("opened_tx", sa.String(length=66), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("agreed_amount", sa.String(length=78), nullable=True),
        sa.Column("written_off", sa.String(length=78), nullable=True),
        sa.Column("arbiter", sa.String(length=42), nullable=True),
        sa.Column("closed_block", sa.BigInteger(), nullable=True),
        sa.Column("closed_tx", sa.String(length=66), nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["gw_agreement.id"], name=op.f("fk_gw_dispute_agreement_id_gw_agreement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_dispute")),
        sa.UniqueConstraint("agreement_id", "period", "opened_tx", name=op.f("uq_gw_dispute_agreement_id_period_opened_tx")),
    )
    op.create_index(op.f("ix_gw_dispute_agreement_id"), "gw_dispute", ["agreement_id"], unique=False)
    op.create_index(op.f("ix_gw_dispute_reason_hash"), "gw_dispute", ["reason_hash"], unique=False)

    op.create_table(
        "gw_dispute_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement", sa.String(length=42), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(length=66), nullable=False),
        sa.Column("amount", sa.String(length=78), nullable=True),
        sa.Column("party", sa.String(length=42), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("action_hash", sa.String(length=66), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_dispute_note")),
        sa.UniqueConstraint(
            "chain_id", "agreement", "period", "kind", "tx_hash", name=op.f("uq_gw_dispute_note_chain_id_agreement_period_kind_tx_hash")
        ),
    )
    op.create_index(
        op.f("ix_gw_dispute_note_chain_id_agreement_period"), "gw_dispute_note", ["chain_id", "agreement", "period"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_gw_dispute_note_chain_id_agreement_period"), table_name="gw_dispute_note")
    op.drop_table("gw_dispute_note")
    op.drop_index(op.f("ix_gw_dispute_reason_hash"), table_name="gw_dispute")
    op.drop_index(op.f("ix_gw_dispute_agreement_id"), table_name="gw_dispute")
    op.drop_table("gw_dispute")
    with op.batch_alter_table("gw_settlement", schema=None) as batch_op:
        batch_op.drop_column("disputed")
