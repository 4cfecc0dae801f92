"""Invoices: issued invoices and credit notes (``gw_invoice``, never changed or deleted), their files stored
content-addressed (``gw_invoice_file``: SHA-256 of each rendering), gapless number series per issuer
(``gw_invoice_series``) and documents held back by a failed check (``gw_invoice_hold``); parties gain the invoice
contact (BT-41 to BT-43) and the buyer reference (BT-10) XRechnung needs.

Settlements made before this revision get their invoices when the invoicing worker first runs (it issues one per
settlement it finds without one).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UINT = sa.String(length=78)
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gw_invoice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=42), nullable=False),
        sa.Column("buyer", sa.String(length=42), nullable=False),
        sa.Column("series_scope", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement", sa.String(length=42), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=3), nullable=False),
        sa.Column("source_key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("preceding_id", sa.Integer(), nullable=True),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("net", UINT, nullable=False),
        sa.Column("vat", UINT, nullable=False),
        sa.Column("gross", UINT, nullable=False),
        sa.Column("vat_category", sa.String(length=2), nullable=False),
        sa.Column("vat_rate", sa.SmallInteger(), nullable=False),
        sa.Column("document_hash", sa.String(length=66), nullable=False),
        sa.Column("number_hash", sa.String(length=66), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("anchor_state", sa.String(length=10), nullable=False),
        sa.Column("anchor_tx", sa.String(length=66), nullable=True),
        sa.ForeignKeyConstraint(["preceding_id"], ["gw_invoice.id"], name=op.f("fk_gw_invoice_preceding_id_gw_invoice")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_invoice")),
        sa.UniqueConstraint("document_hash", name=op.f("uq_gw_invoice_document_hash")),
        sa.UniqueConstraint("issuer", "number", name=op.f("uq_gw_invoice_issuer_number")),
        sa.UniqueConstraint("source_key", name=op.f("uq_gw_invoice_source_key")),
    )
    op.create_index(op.f("ix_gw_invoice_agreement"), "gw_invoice", ["agreement"], unique=False)
    op.create_index(op.f("ix_gw_invoice_buyer"), "gw_invoice", ["buyer"], unique=False)
    op.create_index(op.f("ix_gw_invoice_issuer"), "gw_invoice", ["issuer"], unique=False)
    op.create_table(
        "gw_invoice_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=160), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement", sa.String(length=42), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("first_held_at", UTC_TIME, nullable=False),
        sa.Column("checked_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_invoice_hold")),
        sa.UniqueConstraint("source_key", name=op.f("uq_gw_invoice_hold_source_key")),
    )
    op.create_index(op.f("ix_gw_invoice_hold_agreement"), "gw_invoice_hold", ["agreement"], unique=False)
    op.create_table(
        "gw_invoice_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=42), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_invoice_series")),
        sa.UniqueConstraint("issuer", "scope", name=op.f("uq_gw_invoice_series_issuer_scope")),
    )
    op.create_table(
        "gw_invoice_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["gw_invoice.id"], name=op.f("fk_gw_invoice_file_invoice_id_gw_invoice")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_invoice_file")),
        sa.UniqueConstraint("invoice_id", "format", name=op.f("uq_gw_invoice_file_invoice_id_format")),
    )
    op.create_index(op.f("ix_gw_invoice_file_invoice_id"), "gw_invoice_file", ["invoice_id"], unique=False)
    with op.batch_alter_table("gw_party", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("buyer_reference", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gw_party", schema=None) as batch_op:
        for column in ("buyer_reference", "contact_email", "contact_phone", "contact_name"):
            batch_op.drop_column(column)
    op.drop_index(op.f("ix_gw_invoice_file_invoice_id"), table_name="gw_invoice_file")
    op.drop_table("gw_invoice_file")
    op.drop_table("gw_invoice_series")
    op.drop_index(op.f("ix_gw_invoice_hold_agreement"), table_name="gw_invoice_hold")
    op.drop_table("gw_invoice_hold")
    for name in ("issuer", "buyer", "agreement"):
        op.drop_index(op.f(f"ix_gw_invoice_{name}"), table_name="gw_invoice")
    op.drop_table("gw_invoice")
