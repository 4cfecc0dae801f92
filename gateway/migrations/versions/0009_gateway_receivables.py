"""Receivables: domain events (``gw_domain_event``), each agreement's dunning policy (``gw_dunning_assignment``),
each open item's dunning state (``gw_dunning_item``) and the notices sent (``gw_notice``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gw_domain_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("agreement", sa.String(length=42), nullable=True),
        sa.Column("period", sa.BigInteger(), nullable=True),
        sa.Column("payer", sa.String(length=42), nullable=True),
        sa.Column("payee", sa.String(length=42), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", UTC_TIME, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_domain_event")),
        sa.UniqueConstraint("key", name=op.f("uq_gw_domain_event_key")),
    )
    op.create_index(op.f("ix_gw_domain_event_kind"), "gw_domain_event", ["kind"])
    op.create_index(op.f("ix_gw_domain_event_payer"), "gw_domain_event", ["payer"])
    op.create_index(op.f("ix_gw_domain_event_payee"), "gw_domain_event", ["payee"])
    op.create_index(op.f("ix_gw_domain_event_agreement_period"), "gw_domain_event", ["agreement", "period"])

    op.create_table(
        "gw_dunning_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement", sa.String(length=42), nullable=False),
        sa.Column("policy_name", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_dunning_assignment")),
        sa.UniqueConstraint("chain_id", "agreement", name=op.f("uq_gw_dunning_assignment_chain_id_agreement")),
    )

    op.create_table(
        "gw_dunning_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement", sa.String(length=42), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("level_at", UTC_TIME, nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("fee_at", UTC_TIME, nullable=True),
        sa.Column("hold_until", sa.Date(), nullable=True),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("hold_by", sa.String(length=100), nullable=True),
        sa.Column("stopped_at", UTC_TIME, nullable=True),
        sa.Column("stop_reason", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_dunning_item")),
        sa.UniqueConstraint("chain_id", "agreement", "period", name=op.f("uq_gw_dunning_item_chain_id_agreement_period")),
    )
    op.create_index(op.f("ix_gw_dunning_item_agreement"), "gw_dunning_item", ["agreement"])

    op.create_table(
        "gw_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment_name", sa.String(length=200), nullable=True),
        sa.Column("attachment_sha256", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("sent_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["gw_domain_event.id"], name=op.f("fk_gw_notice_event_id_gw_domain_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_notice")),
        sa.UniqueConstraint("message_id", name=op.f("uq_gw_notice_message_id")),
    )
    op.create_index(op.f("ix_gw_notice_event_id"), "gw_notice", ["event_id"])
    op.create_index(op.f("ix_gw_notice_state"), "gw_notice", ["state"])


def downgrade() -> None:
    for table in ("gw_notice", "gw_dunning_item", "gw_dunning_assignment", "gw_domain_event"):
        op.drop_table(table)
