"""oracle: API keys become API tokens of the shared model (settle.auth): scopes and an optional expiry

Revision ID: 0006
Revises: 0005
Create Date: 2027-02-01

``oracle_api_keys.scopes`` (comma-separated, of ``usage``, ``read``, ``operator``) replaces what ``role`` said:
existing ingest keys get ``usage``, operator keys ``operator``, so every key deployed at an ERP source keeps
working unchanged. ``expires_at`` is empty for them (no expiry). ``role`` stays for the downgrade and for older
readers; it is no longer what decides.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oracle_api_keys") as batch:
        batch.add_column(sa.Column("scopes", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE oracle_api_keys SET scopes = 'operator' WHERE role = 'operator'")
    op.execute("UPDATE oracle_api_keys SET scopes = 'usage' WHERE role <> 'operator'")


def downgrade() -> None:
    with op.batch_alter_table("oracle_api_keys") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
