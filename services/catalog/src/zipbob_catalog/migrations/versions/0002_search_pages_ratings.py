"""Full-text search per backend, composite indexes for every filter + sort, rating read model.

- products gain ``rating_hundredths`` (average x 100, 0 when unrated), ``rating_count`` and
  ``rating_version`` (the review service's summary version last applied).
- Indexes: (filter, sort key, id) for filter in {none, category, seller} and sort key in
  {created_at, price, rating}; the single-column category/seller/price indexes they cover go.
- Search, kept in step inside the writing transaction:
  PostgreSQL: a generated ``search`` tsvector (name weight A, description B) + GIN;
  MariaDB: an InnoDB FULLTEXT index on (name, description);
  SQLite: an FTS5 external-content table ``products_fts`` fed by triggers, keyed by
  ``products.search_rowid`` (a rowid of our own: VACUUM may renumber the implicit rowid of
  a table without an INTEGER PRIMARY KEY, which would silently break an FTS5 table keyed
  on it).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SORT_INDEXES = {
    "ix_products_price": ["price", "id"],
    "ix_products_rating": ["rating_hundredths", "id"],
    "ix_products_category_created": ["category", "created_at", "id"],
    "ix_products_category_price": ["category", "price", "id"],
    "ix_products_category_rating": ["category", "rating_hundredths", "id"],
    "ix_products_seller_created": ["seller_id", "created_at", "id"],
    "ix_products_seller_price": ["seller_id", "price", "id"],
    "ix_products_seller_rating": ["seller_id", "rating_hundredths", "id"],
}

PG_SEARCH = (
    "setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')"
)

SQLITE_UP = [
    "ALTER TABLE products ADD COLUMN search_rowid INTEGER",
    "UPDATE products SET search_rowid = rowid",
    "CREATE UNIQUE INDEX ix_products_search_rowid ON products (search_rowid)",
    "CREATE VIRTUAL TABLE products_fts USING fts5(name, description, content='products',"
    " content_rowid='search_rowid', tokenize='porter unicode61 remove_diacritics 2')",
    "INSERT INTO products_fts(products_fts) VALUES ('rebuild')",
    # New rows get the next number of our own counter (a single writer: no race).
    """CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
        UPDATE products SET search_rowid =
            (SELECT coalesce(max(search_rowid), 0) + 1 FROM products)
            WHERE rowid = new.rowid;
        INSERT INTO products_fts(rowid, name, description)
            SELECT search_rowid, name, description FROM products WHERE rowid = new.rowid;
    END""",
    """CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN
        INSERT INTO products_fts(products_fts, rowid, name, description)
            VALUES ('delete', old.search_rowid, old.name, old.description);
        INSERT INTO products_fts(rowid, name, description)
            VALUES (new.search_rowid, new.name, new.description);
    END""",
    """CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
        INSERT INTO products_fts(products_fts, rowid, name, description)
            VALUES ('delete', old.search_rowid, old.name, old.description);
    END""",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("products") as batch:
        batch.add_column(
            sa.Column("rating_hundredths", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("rating_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("rating_version", sa.BigInteger(), nullable=False, server_default="0")
        )
    for name in ("ix_products_category", "ix_products_seller", "ix_products_price"):
        op.drop_index(name, table_name="products")
    for name, columns in SORT_INDEXES.items():
        op.create_index(name, "products", columns)
    if dialect == "postgresql":
        op.execute(
            "ALTER TABLE products ADD COLUMN search tsvector"
            f" GENERATED ALWAYS AS ({PG_SEARCH}) STORED"
        )
        op.execute("CREATE INDEX ix_products_search ON products USING gin (search)")
    elif dialect in ("mysql", "mariadb"):
        op.execute("ALTER TABLE products ADD FULLTEXT INDEX ft_products_search (name, description)")
    elif dialect == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX ix_products_search")
        op.execute("ALTER TABLE products DROP COLUMN search")
    elif dialect in ("mysql", "mariadb"):
        op.execute("ALTER TABLE products DROP INDEX ft_products_search")
    elif dialect == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER products_fts_{trigger}")
        op.execute("DROP TABLE products_fts")
        op.execute("DROP INDEX ix_products_search_rowid")
        op.execute("ALTER TABLE products DROP COLUMN search_rowid")
    for name in SORT_INDEXES:
        op.drop_index(name, table_name="products")
    op.create_index("ix_products_category", "products", ["category"])
    op.create_index("ix_products_seller", "products", ["seller_id"])
    op.create_index("ix_products_price", "products", ["price"])
    with op.batch_alter_table("products") as batch:
        for column in ("rating_version", "rating_count", "rating_hundredths"):
            batch.drop_column(column)
