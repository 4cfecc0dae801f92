"""oracle: Merkle leaves per open report instead of per record

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

The leaves of an open report's records are kept as concatenated 32-byte blobs (one row per report and ingest
chunk) in ``oracle_report_leaves``; the cut builds the tree from them instead of reading every record again, and
``oracle_records`` loses its ``leaf`` column (a proof recomputes the leaf from the record's fields).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oracle_report_leaves",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("report_pk", sa.BigInteger(), nullable=False),
        sa.Column("leaves", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_report_leaves")),
    )
    op.create_index(op.f("ix_oracle_report_leaves_report_pk"), "oracle_report_leaves", ["report_pk"], unique=False)
    # the leaves of records in reports that are still open move over (cut reports hold theirs in their tree)
    op.execute(
        "INSERT INTO oracle_report_leaves (report_pk, leaves) "
        "SELECT r.report_id, r.leaf FROM oracle_records r JOIN oracle_reports p ON p.id = r.report_id "
        "WHERE p.status = 'open' AND r.status = 1 AND r.leaf IS NOT NULL ORDER BY r.id"
    )
    with op.batch_alter_table("oracle_records", schema=None) as batch_op:
        batch_op.drop_column("leaf")


def downgrade() -> None:
    from oracle.merkle import leaf_hash

    with op.batch_alter_table("oracle_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leaf", sa.LargeBinary(length=32), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT r.id, a.address, r.meter, r.period, r.units, r.occurred_at, s.name, r.record_id FROM oracle_records r "
            "JOIN oracle_agreements a ON a.id = r.agreement_id JOIN oracle_sources s ON s.id = r.source_id WHERE r.status = 1"
        )
    ).all()
    update = sa.text("UPDATE oracle_records SET leaf = :leaf WHERE id = :id")
    for part in range(0, len(rows), 10_000):
        conn.execute(update, [{"id": row[0], "leaf": leaf_hash(*row[1:])} for row in rows[part : part + 10_000]])
    op.drop_index(op.f("ix_oracle_report_leaves_report_pk"), table_name="oracle_report_leaves")
    op.drop_table("oracle_report_leaves")
