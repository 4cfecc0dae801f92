"""Gateway read model (agreements, terms versions, usage, settlements, applied chain events, cursor and block
hashes) and the transactions the gateway sends (signed before broadcast, nonces allocated under a row lock).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gw_agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("factory", sa.String(length=42), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("payee", sa.String(length=42), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("service_status", sa.String(length=12), nullable=False),
        sa.Column("terms_version", sa.Integer(), nullable=False),
        sa.Column("pending_version", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("minor_digits", sa.SmallInteger(), nullable=False),
        sa.Column("next_period_to_settle", sa.BigInteger(), nullable=False),
        sa.Column("end_period", sa.BigInteger(), nullable=False),
        sa.Column("termination_reason", sa.String(length=12), nullable=True),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("created_tx", sa.String(length=66), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_agreement")),
        sa.UniqueConstraint("chain_id", "address", name=op.f("uq_gw_agreement_chain_id_address")),
    )
    op.create_index(op.f("ix_gw_agreement_payee"), "gw_agreement", ["payee"], unique=False)
    op.create_index(op.f("ix_gw_agreement_payer"), "gw_agreement", ["payer"], unique=False)
    op.create_table(
        "gw_chain_block",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number", name=op.f("pk_gw_chain_block")),
    )
    op.create_table(
        "gw_chain_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_chain_cursor")),
        sa.UniqueConstraint("chain_id", "name", name=op.f("uq_gw_chain_cursor_chain_id_name")),
    )
    op.create_table(
        "gw_chain_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_chain_event")),
        sa.UniqueConstraint("chain_id", "block_hash", "log_index", name=op.f("uq_gw_chain_event_chain_id_block_hash_log_index")),
    )
    op.create_index(op.f("ix_gw_chain_event_address"), "gw_chain_event", ["address"], unique=False)
    op.create_index(op.f("ix_gw_chain_event_chain_id_block_number"), "gw_chain_event", ["chain_id", "block_number"], unique=False)
    op.create_table(
        "gw_signer_nonce",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "address", name=op.f("pk_gw_signer_nonce")),
    )
    op.create_table(
        "gw_chain_tx",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_item_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("to", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["outbox_item_id"], ["gw_outbox.id"], name=op.f("fk_gw_chain_tx_outbox_item_id_gw_outbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_chain_tx")),
        sa.UniqueConstraint("outbox_item_id", name=op.f("uq_gw_chain_tx_outbox_item_id")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_gw_chain_tx_tx_hash")),
    )
    op.create_table(
        "gw_settlement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.String(length=78), nullable=False),
        sa.Column("paid", sa.String(length=78), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terms_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("token_pull_failures", sa.Integer(), nullable=False),
        sa.Column("last_return_reason", sa.String(length=4), nullable=True),
        sa.Column("settled_block", sa.BigInteger(), nullable=False),
        sa.Column("settled_tx", sa.String(length=66), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["gw_agreement.id"], name=op.f("fk_gw_settlement_agreement_id_gw_agreement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_settlement")),
        sa.UniqueConstraint("agreement_id", "period", name=op.f("uq_gw_settlement_agreement_id_period")),
    )
    op.create_index(op.f("ix_gw_settlement_agreement_id"), "gw_settlement", ["agreement_id"], unique=False)
    op.create_index(op.f("ix_gw_settlement_status"), "gw_settlement", ["status"], unique=False)
    op.create_table(
        "gw_terms_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("terms_hash", sa.String(length=66), nullable=False),
        sa.Column("packed", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("effective_from_period", sa.BigInteger(), nullable=False),
        sa.Column("proposed_block", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["gw_agreement.id"], name=op.f("fk_gw_terms_version_agreement_id_gw_agreement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_terms_version")),
        sa.UniqueConstraint("agreement_id", "version", name=op.f("uq_gw_terms_version_agreement_id_version")),
    )
    op.create_index(op.f("ix_gw_terms_version_agreement_id"), "gw_terms_version", ["agreement_id"], unique=False)
    op.create_table(
        "gw_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("meter", sa.SmallInteger(), nullable=False),
        sa.Column("cumulative", sa.String(length=78), nullable=False),
        sa.Column("records_root", sa.String(length=66), nullable=False),
        sa.Column("report_id", sa.String(length=66), nullable=True),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["gw_agreement.id"], name=op.f("fk_gw_usage_agreement_id_gw_agreement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_usage")),
        sa.UniqueConstraint("agreement_id", "period", "meter", name=op.f("uq_gw_usage_agreement_id_period_meter")),
    )
    op.create_index(op.f("ix_gw_usage_agreement_id"), "gw_usage", ["agreement_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_gw_usage_agreement_id"), table_name="gw_usage")
    op.drop_table("gw_usage")
    op.drop_index(op.f("ix_gw_terms_version_agreement_id"), table_name="gw_terms_version")
    op.drop_table("gw_terms_version")
    op.drop_index(op.f("ix_gw_settlement_status"), table_name="gw_settlement")
    op.drop_index(op.f("ix_gw_settlement_agreement_id"), table_name="gw_settlement")
    op.drop_table("gw_settlement")
    op.drop_table("gw_chain_tx")
    op.drop_table("gw_signer_nonce")
    op.drop_index(op.f("ix_gw_chain_event_chain_id_block_number"), table_name="gw_chain_event")
    op.drop_index(op.f("ix_gw_chain_event_address"), table_name="gw_chain_event")
    op.drop_table("gw_chain_event")
    op.drop_table("gw_chain_cursor")
    op.drop_table("gw_chain_block")
    op.drop_index(op.f("ix_gw_agreement_payer"), table_name="gw_agreement")
    op.drop_index(op.f("ix_gw_agreement_payee"), table_name="gw_agreement")
    op.drop_table("gw_agreement")
