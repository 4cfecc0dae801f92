"""Gateway initial schema: master data, history, payment instructions and files, statements, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 00:08:38.736407
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gw_bank_statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("message_name", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("duplicate_lines", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_bank_statement")),
        sa.UniqueConstraint("sha256", name=op.f("uq_gw_bank_statement_sha256")),
    )
    op.create_table(
        "gw_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_values", sa.JSON(), nullable=True),
        sa.Column("new_values", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_history")),
    )
    with op.batch_alter_table("gw_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_history_entity_entity_id"), ["entity", "entity_id"], unique=False)

    op.create_table(
        "gw_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.Enum("pending", "processing", "done", "dead", name="outbox_state", native_enum=False), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_gw_outbox_idempotency_key")),
    )
    with op.batch_alter_table("gw_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_outbox_kind_state_available_at"), ["kind", "state", "available_at"], unique=False)

    op.create_table(
        "gw_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_address", sa.String(length=42), nullable=False),
        sa.Column("legal_name", sa.String(length=140), nullable=False),
        sa.Column("street", sa.String(length=70), nullable=True),
        sa.Column("postal_code", sa.String(length=16), nullable=True),
        sa.Column("city", sa.String(length=35), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("vat_id", sa.String(length=20), nullable=True),
        sa.Column("creditor_id", sa.String(length=35), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_party")),
        sa.UniqueConstraint("chain_address", name=op.f("uq_gw_party_chain_address")),
    )
    op.create_table(
        "gw_payment_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("schema", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=35), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("account_iban", sa.String(length=34), nullable=False),
        sa.Column("file_date", sa.Date(), nullable=False),
        sa.Column("scheme", sa.String(length=4), nullable=True),
        sa.Column("tx_count", sa.Integer(), nullable=False),
        sa.Column("control_sum", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.Enum("built", "uploaded", name="payment_file_state", native_enum=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_payment_file")),
        sa.UniqueConstraint("message_id", name=op.f("uq_gw_payment_file_message_id")),
        sa.UniqueConstraint("sha256", name=op.f("uq_gw_payment_file_sha256")),
    )
    op.create_table(
        "gw_bank_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("bic", sa.String(length=11), nullable=True),
        sa.Column("holder_name", sa.String(length=140), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["gw_party.id"], name=op.f("fk_gw_bank_account_party_id_gw_party")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_bank_account")),
        sa.UniqueConstraint("party_id", "iban", name=op.f("uq_gw_bank_account_party_id_iban")),
    )
    with op.batch_alter_table("gw_bank_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_bank_account_party_id"), ["party_id"], unique=False)

    op.create_table(
        "gw_payment_instruction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement", sa.String(length=42), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.Enum("sepa_dd", "sepa_ct", "erc20", name="instruction_method", native_enum=False, length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("currency_digits", sa.SmallInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=False),
        sa.Column("creditor_reference", sa.String(length=25), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "in_file",
                "sent",
                "partially_paid",
                "paid",
                "returned",
                "cancelled",
                name="instruction_state",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("collection_date", sa.Date(), nullable=True),
        sa.Column("sequence_type", sa.String(length=4), nullable=True),
        sa.Column("payment_file_id", sa.Integer(), nullable=True),
        sa.Column("payment_info_id", sa.String(length=35), nullable=True),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.Column("returned_amount", sa.BigInteger(), nullable=False),
        sa.Column("return_reason", sa.String(length=4), nullable=True),
        sa.Column("settlement_tx", sa.String(length=66), nullable=True),
        sa.Column("settlement_block", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_file_id"], ["gw_payment_file.id"], name=op.f("fk_gw_payment_instruction_payment_file_id_gw_payment_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_payment_instruction")),
        sa.UniqueConstraint("chain_id", "agreement", "period", name=op.f("uq_gw_payment_instruction_chain_id_agreement_period")),
        sa.UniqueConstraint("creditor_reference", name=op.f("uq_gw_payment_instruction_creditor_reference")),
        sa.UniqueConstraint("end_to_end_id", name=op.f("uq_gw_payment_instruction_end_to_end_id")),
    )
    with op.batch_alter_table("gw_payment_instruction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_payment_instruction_payment_file_id"), ["payment_file_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gw_payment_instruction_state"), ["state"], unique=False)

    op.create_table(
        "gw_mandate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("creditor_id", sa.String(length=35), nullable=False),
        sa.Column("debtor_party_id", sa.Integer(), nullable=False),
        sa.Column("creditor_party_id", sa.Integer(), nullable=False),
        sa.Column("debtor_account_id", sa.Integer(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("scheme", sa.Enum("CORE", "B2B", name="mandate_scheme", native_enum=False), nullable=False),
        sa.Column("sequence", sa.Enum("FRST", "RCUR", name="mandate_sequence", native_enum=False), nullable=False),
        sa.Column("status", sa.Enum("active", "revoked", "expired", name="mandate_status", native_enum=False, length=8), nullable=False),
        sa.Column("last_collection_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["creditor_party_id"], ["gw_party.id"], name=op.f("fk_gw_mandate_creditor_party_id_gw_party")),
        sa.ForeignKeyConstraint(
            ["debtor_account_id"], ["gw_bank_account.id"], name=op.f("fk_gw_mandate_debtor_account_id_gw_bank_account")
        ),
        sa.ForeignKeyConstraint(["debtor_party_id"], ["gw_party.id"], name=op.f("fk_gw_mandate_debtor_party_id_gw_party")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_mandate")),
        sa.UniqueConstraint("creditor_id", "reference", name=op.f("uq_gw_mandate_creditor_id_reference")),
    )
    with op.batch_alter_table("gw_mandate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_mandate_creditor_party_id"), ["creditor_party_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gw_mandate_debtor_party_id"), ["debtor_party_id"], unique=False)

    op.create_table(
        "gw_statement_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=True),
        sa.Column("account_iban", sa.String(length=34), nullable=True),
        sa.Column("entry_index", sa.Integer(), nullable=False),
        sa.Column("detail_index", sa.Integer(), nullable=False),
        sa.Column("bank_reference", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("credit_debit", sa.String(length=4), nullable=False),
        sa.Column("reversal", sa.Boolean(), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=True),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("bank_tx_code", sa.String(length=40), nullable=True),
        sa.Column("end_to_end_id", sa.String(length=140), nullable=True),
        sa.Column("mandate_id", sa.String(length=140), nullable=True),
        sa.Column("creditor_reference", sa.String(length=140), nullable=True),
        sa.Column("remittance", sa.Text(), nullable=True),
        sa.Column("return_reason", sa.String(length=35), nullable=True),
        sa.Column("counterparty_name", sa.String(length=140), nullable=True),
        sa.Column("counterparty_iban", sa.String(length=34), nullable=True),
        sa.Column(
            "match_state",
            sa.Enum("matched", "unmatched", "ignored", "duplicate", name="line_state", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("match_reason", sa.Text(), nullable=True),
        sa.Column("payment_instruction_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_instruction_id"],
            ["gw_payment_instruction.id"],
            name=op.f("fk_gw_statement_line_payment_instruction_id_gw_payment_instruction"),
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["gw_bank_statement.id"], name=op.f("fk_gw_statement_line_statement_id_gw_bank_statement")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_statement_line")),
        sa.UniqueConstraint("bank_reference", name=op.f("uq_gw_statement_line_bank_reference")),
    )
    with op.batch_alter_table("gw_statement_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_statement_line_match_state"), ["match_state"], unique=False)
        batch_op.create_index(batch_op.f("ix_gw_statement_line_payment_instruction_id"), ["payment_instruction_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gw_statement_line_statement_id"), ["statement_id"], unique=False)

    op.create_table(
        "gw_payment_method",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.Enum("sepa_dd", "sepa_ct", "erc20", name="payment_method_kind", native_enum=False, length=8), nullable=False),
        sa.Column("payer_party_id", sa.Integer(), nullable=False),
        sa.Column("payee_party_id", sa.Integer(), nullable=False),
        sa.Column("mandate_id", sa.Integer(), nullable=True),
        sa.Column("payee_account_id", sa.Integer(), nullable=True),
        sa.Column("payer_account_id", sa.Integer(), nullable=True),
        sa.Column("token", sa.String(length=42), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["mandate_id"], ["gw_mandate.id"], name=op.f("fk_gw_payment_method_mandate_id_gw_mandate")),
        sa.ForeignKeyConstraint(
            ["payee_account_id"], ["gw_bank_account.id"], name=op.f("fk_gw_payment_method_payee_account_id_gw_bank_account")
        ),
        sa.ForeignKeyConstraint(["payee_party_id"], ["gw_party.id"], name=op.f("fk_gw_payment_method_payee_party_id_gw_party")),
        sa.ForeignKeyConstraint(
            ["payer_account_id"], ["gw_bank_account.id"], name=op.f("fk_gw_payment_method_payer_account_id_gw_bank_account")
        ),
        sa.ForeignKeyConstraint(["payer_party_id"], ["gw_party.id"], name=op.f("fk_gw_payment_method_payer_party_id_gw_party")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_payment_method")),
        sa.UniqueConstraint("chain_id", "agreement", name=op.f("uq_gw_payment_method_chain_id_agreement")),
    )


def downgrade() -> None:
    op.drop_table("gw_payment_method")
    with op.batch_alter_table("gw_statement_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_statement_line_statement_id"))
        batch_op.drop_index(batch_op.f("ix_gw_statement_line_payment_instruction_id"))
        batch_op.drop_index(batch_op.f("ix_gw_statement_line_match_state"))

    op.drop_table("gw_statement_line")
    with op.batch_alter_table("gw_mandate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_mandate_debtor_party_id"))
        batch_op.drop_index(batch_op.f("ix_gw_mandate_creditor_party_id"))

    op.drop_table("gw_mandate")
    with op.batch_alter_table("gw_payment_instruction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_payment_instruction_state"))
        batch_op.drop_index(batch_op.f("ix_gw_payment_instruction_payment_file_id"))

    op.drop_table("gw_payment_instruction")
    with op.batch_alter_table("gw_bank_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_bank_account_party_id"))

    op.drop_table("gw_bank_account")
    op.drop_table("gw_payment_file")
    op.drop_table("gw_party")
    with op.batch_alter_table("gw_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_outbox_kind_state_available_at"))

    op.drop_table("gw_outbox")
    with op.batch_alter_table("gw_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_history_entity_entity_id"))

    op.drop_table("gw_history")
    op.drop_table("gw_bank_statement")
