"""Reconciliation: statement lines keep what the matching engine read and decided (kind, structured remittance,
charges, decision, confidence, evidence, suggestion); allocations of lines to open items (``gw_line_allocation``),
credit balances from over-payments, the payer's bank charges as fee items, review decisions, learnt payer accounts
and received remittance advices; payment instructions gain re-presentation (``attempt``, ``not_before``) and the
MD06 refund flag, mandates the reason they became unusable.

Statement lines imported before this revision keep their state; their decision stays empty.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("gw_statement_line") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=10), nullable=False, server_default="payment"))
        batch.add_column(sa.Column("source_format", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("structured", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("charges", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("decision", sa.String(length=6), nullable=True))
        batch.add_column(sa.Column("confidence", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("suggestion", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("gw_payment_instruction") as batch:
        batch.add_column(sa.Column("attempt", sa.SmallInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("not_before", sa.Date(), nullable=True))
        batch.add_column(sa.Column("refund_claim", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("gw_mandate") as batch:
        batch.add_column(sa.Column("status_reason", sa.String(length=200), nullable=True))

    op.create_table(
        "gw_fee_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement", sa.String(length=42), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("payee", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("statement_line_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_line_id"], ["gw_statement_line.id"], name=op.f("fk_gw_fee_item_statement_line_id_gw_statement_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_fee_item")),
        sa.UniqueConstraint("statement_line_id", name=op.f("uq_gw_fee_item_statement_line_id")),
    )
    op.create_index(op.f("ix_gw_fee_item_agreement"), "gw_fee_item", ["agreement"])
    op.create_index(op.f("ix_gw_fee_item_payer"), "gw_fee_item", ["payer"])
    op.create_index(op.f("ix_gw_fee_item_payee"), "gw_fee_item", ["payee"])

    op.create_table(
        "gw_line_allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_line_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("agreement", sa.String(length=42), nullable=True),
        sa.Column("period", sa.BigInteger(), nullable=True),
        sa.Column("fee_item_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason_code", sa.String(length=4), nullable=True),
        sa.Column("outbox_item_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_line_id"], ["gw_statement_line.id"], name=op.f("fk_gw_line_allocation_statement_line_id_gw_statement_line")
        ),
        sa.ForeignKeyConstraint(["fee_item_id"], ["gw_fee_item.id"], name=op.f("fk_gw_line_allocation_fee_item_id_gw_fee_item")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_line_allocation")),
        sa.UniqueConstraint("statement_line_id", "item_id", "kind", name=op.f("uq_gw_line_allocation_statement_line_id_item_id_kind")),
    )
    op.create_index(op.f("ix_gw_line_allocation_statement_line_id"), "gw_line_allocation", ["statement_line_id"])
    op.create_index(op.f("ix_gw_line_allocation_item_id"), "gw_line_allocation", ["item_id"])
    op.create_index(op.f("ix_gw_line_allocation_agreement"), "gw_line_allocation", ["agreement"])

    op.create_table(
        "gw_credit_balance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=True),
        sa.Column("payer_name", sa.String(length=140), nullable=True),
        sa.Column("payee", sa.String(length=42), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("statement_line_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_line_id"], ["gw_statement_line.id"], name=op.f("fk_gw_credit_balance_statement_line_id_gw_statement_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_credit_balance")),
        sa.UniqueConstraint("statement_line_id", name=op.f("uq_gw_credit_balance_statement_line_id")),
    )
    op.create_index(op.f("ix_gw_credit_balance_payer"), "gw_credit_balance", ["payer"])
    op.create_index(op.f("ix_gw_credit_balance_payee"), "gw_credit_balance", ["payee"])

    op.create_table(
        "gw_review_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_line_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("allocations", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_line_id"], ["gw_statement_line.id"], name=op.f("fk_gw_review_decision_statement_line_id_gw_statement_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_review_decision")),
        sa.UniqueConstraint("statement_line_id", name=op.f("uq_gw_review_decision_statement_line_id")),
    )

    op.create_table(
        "gw_known_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("account_name", sa.String(length=140), nullable=True),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("statement_line_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_line_id"], ["gw_statement_line.id"], name=op.f("fk_gw_known_account_statement_line_id_gw_statement_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_known_account")),
        sa.UniqueConstraint("iban", "payer", name=op.f("uq_gw_known_account_iban_payer")),
    )
    op.create_index(op.f("ix_gw_known_account_iban"), "gw_known_account", ["iban"])

    op.create_table(
        "gw_remittance_advice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("payer_name", sa.String(length=140), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("text_source", sa.String(length=8), nullable=False),
        sa.Column("adds_up", sa.Boolean(), nullable=False),
        sa.Column("statement_line_id", sa.Integer(), nullable=True),
        sa.Column("received_by", sa.String(length=100), nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_line_id"], ["gw_statement_line.id"], name=op.f("fk_gw_remittance_advice_statement_line_id_gw_statement_line")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_remittance_advice")),
        sa.UniqueConstraint("sha256", name=op.f("uq_gw_remittance_advice_sha256")),
    )
    op.create_index(op.f("ix_gw_remittance_advice_statement_line_id"), "gw_remittance_advice", ["statement_line_id"])


def downgrade() -> None:
    for table in (
        "gw_remittance_advice",
        "gw_known_account",
        "gw_review_decision",
        "gw_credit_balance",
        "gw_line_allocation",
        "gw_fee_item",
    ):
        op.drop_table(table)
    with op.batch_alter_table("gw_mandate") as batch:
        batch.drop_column("status_reason")
    with op.batch_alter_table("gw_payment_instruction") as batch:
        for column in ("refund_claim", "not_before", "attempt"):
            batch.drop_column(column)
    with op.batch_alter_table("gw_statement_line") as batch:
        for column in ("suggestion", "evidence", "confidence", "decision", "charges", "structured", "source_format", "kind"):
            batch.drop_column(column)
