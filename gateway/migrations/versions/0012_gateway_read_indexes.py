"""Indexes for the API's reads: an agreement is looked up by its address alone (the unique constraint starts with
the chain id, so PostgreSQL scanned the table), payment methods by either party (``benchmarks/api.py``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 14:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_gw_agreement_address"), "gw_agreement", ["address"])
    op.create_index(op.f("ix_gw_payment_method_payer_party_id"), "gw_payment_method", ["payer_party_id"])
    op.create_index(op.f("ix_gw_payment_method_payee_party_id"), "gw_payment_method", ["payee_party_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_gw_payment_method_payee_party_id"), table_name="gw_payment_method")
    op.drop_index(op.f("ix_gw_payment_method_payer_party_id"), table_name="gw_payment_method")
    op.drop_index(op.f("ix_gw_agreement_address"), table_name="gw_agreement")
