"""One party per IBAN unless the account is marked shared with a reason: ``gw_bank_account.shared_reason`` and a
unique index over the IBANs of unshared accounts.

Databases written before this check may hold an IBAN under several parties. The first holder (lowest id) keeps the
account as its own; every later holder's account is marked shared with a reason that asks for a review, and the
change is written to ``gw_history`` like any other, so nothing is lost and the index can be built.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVIEW_REASON = "held by another party before shared accounts were checked (migration 0003): review"


def upgrade() -> None:
    with op.batch_alter_table("gw_bank_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shared_reason", sa.String(length=200), nullable=True))

    connection = op.get_bind()
    account = sa.table("gw_bank_account", sa.column("id", sa.Integer), sa.column("iban", sa.String), sa.column("shared_reason", sa.String))
    history = sa.table(
        "gw_history",
        sa.column("entity", sa.String),
        sa.column("entity_id", sa.BigInteger),
        sa.column("action", sa.String),
        sa.column("actor", sa.String),
        sa.column("changed_at", sa.DateTime(timezone=True)),
        sa.column("old_values", sa.JSON),
        sa.column("new_values", sa.JSON),
    )
    first = sa.select(sa.func.min(account.c.id).label("id"), account.c.iban).group_by(account.c.iban).subquery()
    later = connection.execute(
        sa.select(account.c.id).join(first, first.c.iban == account.c.iban).where(account.c.id != first.c.id).order_by(account.c.id)
    ).scalars()
    ids = list(later)
    if ids:
        now = datetime.now(UTC)
        stamp = now.replace(tzinfo=None) if connection.dialect.name == "sqlite" else now
        connection.execute(sa.update(account).where(account.c.id.in_(ids)).values(shared_reason=REVIEW_REASON))
        connection.execute(
            sa.insert(history),
            [
                {
                    "entity": "gw_bank_account",
                    "entity_id": account_id,
                    "action": "update",
                    "actor": "migration:0003",
                    "changed_at": stamp,
                    "old_values": {"shared_reason": None},
                    "new_values": {"shared_reason": REVIEW_REASON},
                }
                for account_id in ids
            ],
        )

    op.create_index(
        "uq_gw_bank_account_iban_unshared",
        "gw_bank_account",
        ["iban"],
        unique=True,
        sqlite_where=sa.text("shared_reason IS NULL"),
        postgresql_where=sa.text("shared_reason IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_gw_bank_account_iban_unshared", table_name="gw_bank_account")
    with op.batch_alter_table("gw_bank_account", schema=None) as batch_op:
        batch_op.drop_column("shared_reason")
