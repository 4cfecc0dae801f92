"""An agreement's invoices indexed by period: the open items join each open settlement to its invoice by agreement
and period, and the index on the agreement alone made PostgreSQL read every invoice of the agreement for each open
settlement (a monthly agreement has twelve more a year) (``benchmarks/api.py``). The new index serves lookups by the
agreement alone too, so it replaces that one.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_gw_invoice_agreement_period", "gw_invoice", ["agreement", "period"])
    op.drop_index(op.f("ix_gw_invoice_agreement"), table_name="gw_invoice")


def downgrade() -> None:
    op.create_index(op.f("ix_gw_invoice_agreement"), "gw_invoice", ["agreement"])
    op.drop_index("ix_gw_invoice_agreement_period", table_name="gw_invoice")
