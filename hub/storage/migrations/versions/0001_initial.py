"""Initial schema: batches, reports, partner_state, cell_counts.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Mirrors hub/storage/schema.py as it stood at this revision; later changes get
their own revision, never an edit here. A test compares the migrated database
with the metadata.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("partner_id", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.LargeBinary(), nullable=False),
        sa.Column("sector", sa.Text(), nullable=False),
        sa.Column("key_epoch", sa.BigInteger(), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejections", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "batch_id", name="pk_batches"),
    )
    op.create_table(
        "reports",
        sa.Column("partner_id", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("item_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("scheme_version", sa.Integer(), nullable=False),
        sa.Column("key_epoch", sa.BigInteger(), nullable=False),
        sa.Column("indicator_type", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.LargeBinary(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("week", sa.Text(), nullable=False),
        sa.Column("h3_cell", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("sector", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "batch_id", "item_index", name="pk_reports"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "partner_state",
        sa.Column("partner_id", sa.Text(), nullable=False),
        sa.Column("active_epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", name="pk_partner_state"),
    )
    op.create_table(
        "cell_counts",
        sa.Column("indicator_type", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("sector", sa.Text(), nullable=False),
        sa.Column("week", sa.Text(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("partner_id", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "indicator_type",
            "country",
            "sector",
            "week",
            "tag",
            "partner_id",
            name="pk_cell_counts",
        ),
    )


def downgrade() -> None:
    op.drop_table("cell_counts")
    op.drop_table("partner_state")
    op.drop_table("reports")
    op.drop_table("batches")
