"""Party portal: API tokens (``gw_api_token``), staff accounts and invitations (``gw_staff_account``,
``gw_staff_invite``), sessions (``gw_auth_session``), Sign-In with Ethereum nonces (``gw_siwe_nonce``) and the audit
log (``gw_audit_log``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gw_api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=42), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=True),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("last_used_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_gw_api_token_token_hash")),
    )
    op.create_index(op.f("ix_gw_api_token_prefix"), "gw_api_token", ["prefix"])
    op.create_index(op.f("ix_gw_api_token_owner"), "gw_api_token", ["owner"])
    op.create_table(
        "gw_staff_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=42), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTC_TIME, nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_sign_in_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_staff_account")),
        sa.UniqueConstraint("email", name=op.f("uq_gw_staff_account_email")),
    )
    op.create_index(op.f("ix_gw_staff_account_party"), "gw_staff_account", ["party"])
    op.create_table(
        "gw_staff_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("accepted_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["gw_staff_account.id"], name=op.f("fk_gw_staff_invite_account_id_gw_staff_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_staff_invite")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_gw_staff_invite_token_hash")),
    )
    op.create_index(op.f("ix_gw_staff_invite_account_id"), "gw_staff_invite", ["account_id"])
    op.create_table(
        "gw_auth_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("party", sa.String(length=42), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["gw_staff_account.id"], name=op.f("fk_gw_auth_session_account_id_gw_staff_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_auth_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_gw_auth_session_token_hash")),
    )
    op.create_index(op.f("ix_gw_auth_session_party"), "gw_auth_session", ["party"])
    op.create_index(op.f("ix_gw_auth_session_account_id"), "gw_auth_session", ["account_id"])
    op.create_table(
        "gw_siwe_nonce",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("used_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_gw_siwe_nonce")),
    )
    op.create_index(op.f("ix_gw_siwe_nonce_expires_at"), "gw_siwe_nonce", ["expires_at"])
    op.create_table(
        "gw_audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("party", sa.String(length=42), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_audit_log")),
    )
    op.create_index(op.f("ix_gw_audit_log_at"), "gw_audit_log", ["at"])
    op.create_index(op.f("ix_gw_audit_log_party"), "gw_audit_log", ["party"])


def downgrade() -> None:
    for table in ("gw_audit_log", "gw_siwe_nonce", "gw_auth_session", "gw_staff_invite", "gw_staff_account", "gw_api_token"):
        op.drop_table(table)
