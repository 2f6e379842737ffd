"""The hub's tables, as SQLAlchemy Core metadata; migration 0001 creates the same.

Ingest speed drives the shape: `reports` has its primary key and nothing else.
A random 32-byte token in any index costs a page rewrite per row at commit
(measured: two secondary indexes cut SQLite ingest to 15-33k rows/s), so token
scans happen off the ingest path and trend queries read `cell_counts`, which
ingest keeps with one upsert per distinct cell per batch.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# One row per (partner, batch id): the idempotency key and the stored answer.
batches = Table(
    "batches",
    metadata,
    Column("partner_id", Text, primary_key=True),
    Column("batch_id", Text, primary_key=True),
    Column("content_hash", LargeBinary, nullable=False),
    Column("sector", Text, nullable=False),
    # NULL when every item of the batch was rejected.
    Column("key_epoch", BigInteger, nullable=True),
    Column("accepted", Integer, nullable=False),
    # JSON list of {"index", "reason", "message"}, replayed for a duplicate.
    Column("rejections", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# One row per accepted item. WITHOUT ROWID on SQLite: the primary key is the
# table, so each insert touches one B-tree instead of two.
reports = Table(
    "reports",
    metadata,
    Column("partner_id", Text, primary_key=True),
    Column("batch_id", Text, primary_key=True),
    Column("item_index", BigInteger, primary_key=True, autoincrement=False),
    Column("token", LargeBinary, nullable=False),
    Column("scheme_version", Integer, nullable=False),
    Column("key_epoch", BigInteger, nullable=False),
    Column("indicator_type", Integer, nullable=False),
    Column("group_id", LargeBinary, nullable=False),
    Column("country", Text, nullable=False),
    Column("week", Text, nullable=False),
    Column("h3_cell", Text, nullable=True),
    # Typology tags joined with ","; "" when none.
    Column("tags", Text, nullable=False),
    Column("sector", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    sqlite_with_rowid=False,
)

# Each partner's active consortium key epoch; items of a later epoch are staged.
partner_state = Table(
    "partner_state",
    metadata,
    Column("partner_id", Text, primary_key=True),
    Column("active_epoch", BigInteger, nullable=False),
)

# Active items per cell and partner; tag "" counts every item, other tags their items.
cell_counts = Table(
    "cell_counts",
    metadata,
    Column("indicator_type", Integer, primary_key=True, autoincrement=False),
    Column("country", Text, primary_key=True),
    Column("sector", Text, primary_key=True),
    Column("week", Text, primary_key=True),
    Column("tag", Text, primary_key=True),
    Column("partner_id", Text, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# Column order of `reports` as the bulk paths send it (positional tuples).
REPORT_COLUMNS: tuple[str, ...] = tuple(column.name for column in reports.columns)
