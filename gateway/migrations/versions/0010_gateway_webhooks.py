"""Webhooks: endpoints subscribed to domain events (``gw_webhook_endpoint``), deliveries (``gw_webhook_delivery``)
and every attempt (``gw_webhook_attempt``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gw_webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=42), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_webhook_endpoint")),
    )
    op.create_index(op.f("ix_gw_webhook_endpoint_owner"), "gw_webhook_endpoint", ["owner"])
    op.create_table(
        "gw_webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("replay", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_TIME, nullable=False),
        sa.Column("delivered_at", UTC_TIME, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["gw_webhook_endpoint.id"], name=op.f("fk_gw_webhook_delivery_endpoint_id_gw_webhook_endpoint")
        ),
        sa.ForeignKeyConstraint(["event_id"], ["gw_domain_event.id"], name=op.f("fk_gw_webhook_delivery_event_id_gw_domain_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_webhook_delivery")),
        sa.UniqueConstraint("endpoint_id", "event_id", "replay", name=op.f("uq_gw_webhook_delivery_endpoint_id_event_id_replay")),
    )
    op.create_index(op.f("ix_gw_webhook_delivery_endpoint_id"), "gw_webhook_delivery", ["endpoint_id"])
    op.create_index(op.f("ix_gw_webhook_delivery_event_id"), "gw_webhook_delivery", ["event_id"])
    op.create_index(op.f("ix_gw_webhook_delivery_state"), "gw_webhook_delivery", ["state"])
    op.create_index(op.f("ix_gw_webhook_delivery_next_attempt_at"), "gw_webhook_delivery", ["next_attempt_at"])
    op.create_table(
        "gw_webhook_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", UTC_TIME, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["gw_webhook_delivery.id"], name=op.f("fk_gw_webhook_attempt_delivery_id_gw_webhook_delivery")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_webhook_attempt")),
    )
    op.create_index(op.f("ix_gw_webhook_attempt_delivery_id"), "gw_webhook_attempt", ["delivery_id"])


def downgrade() -> None:
    for table in ("gw_webhook_attempt", "gw_webhook_delivery", "gw_webhook_endpoint"):
        op.drop_table(table)
