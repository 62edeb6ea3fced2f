"""Products and their images."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zipbob_catalog.db import Base, Money, UtcDateTime, utcnow


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        # (filter, sort key, id) for every filter and sort the API offers (migration 0002);
        # the search index/column/table per backend lives only in the migration.
        Index("ix_products_created", "created_at", "id"),
        Index("ix_products_price", "price", "id"),
        Index("ix_products_rating", "rating_hundredths", "id"),
        Index("ix_products_category_created", "category", "created_at", "id"),
        Index("ix_products_category_price", "category", "price", "id"),
        Index("ix_products_category_rating", "category", "rating_hundredths", "id"),
        Index("ix_products_seller_created", "seller_id", "created_at", "id"),
        Index("ix_products_seller_price", "seller_id", "price", "id"),
        Index("ix_products_seller_rating", "seller_id", "rating_hundredths", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Rating read model fed by review.summary.changed: average x 100 (0 = unrated), the
    # number of reviews, and the summary version last applied (only newer ones apply).
    rating_hundredths: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    images: Mapped[list[Image]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        order_by="Image.created_at",
        lazy="selectin",
    )


class Image(Base):
    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    product_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    bucket: Mapped[str] = mapped_column(String(63))
    object_key: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # {name: {bucket, key, width, height, bytes, content_type}} as the resizer reported it.
    variants: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    product: Mapped[Product] = relationship(back_populates="images")
