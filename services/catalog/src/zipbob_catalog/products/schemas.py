"""Request and response shapes of the products API (SPEC 3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zipbob_catalog.products.money import CURRENCIES, check_price_for_currency, parse_price

ProductSort = Literal["relevance", "newest", "price_asc", "price_desc", "rating_desc"]


def _currency(value: str) -> str:
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise ValueError("currency must be an ISO 4217 code such as 'EUR'")
    return code


def _price(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError("price must be a decimal string such as '19.99', not a number")
    return parse_price(value)


class ProductBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProductCreate(ProductBase):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    price: Decimal
    currency: str
    stock: int = Field(ge=0, le=1_000_000_000)
    category: str = Field(min_length=1, max_length=100)

    _check_price = field_validator("price", mode="before")(_price)
    _check_currency = field_validator("currency")(_currency)

    @model_validator(mode="after")
    def _price_fits_currency(self) -> ProductCreate:
        check_price_for_currency(self.price, self.currency)
        return self


class ProductUpdate(ProductBase):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    price: Decimal | None = None
    currency: str | None = None
    stock: int | None = Field(None, ge=0, le=1_000_000_000)
    category: str | None = Field(None, min_length=1, max_length=100)

    _check_price = field_validator("price", mode="before")(
        lambda value: None if value is None else _price(value)
    )
    _check_currency = field_validator("currency")(
        lambda value: None if value is None else _currency(value)
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> ProductUpdate:
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"fields cannot be null: {', '.join(sorted(nulls))}")
        return self


def _sort_by_default(schema: dict[str, Any]) -> None:
    """The document's ``sort``: absent or null means the default, which depends on ``q``
    (hence a default factory: the document states no default)."""
    schema["anyOf"] = [{"enum": schema.pop("enum"), "type": schema.pop("type")}, {"type": "null"}]


class ProductQuery(BaseModel):
    """A listing: filters, sort (relevance is the default when ``q`` is given, newest
    otherwise) and either a page number or the cursor a previous page returned."""

    # The one declaration of GET /api/products' parameters: the route takes this model as
    # its query (so these descriptions are the API document's) and products.fastpath
    # validates the same model.
    q: str | None = Field(
        None,
        max_length=200,
        description="Full-text search: words, and prefixes (`wal` finds Walnut), in name and "
        "description. Any text is safe.",
    )
    category: str | None = Field(None, max_length=100, description="Only this category.")
    seller_id: str | None = Field(None, max_length=64, description="Only this seller's products.")
    min_rating: Decimal | None = Field(
        None,
        ge=0,
        le=5,
        decimal_places=2,
        description="Only products whose average review rating is at least this.",
    )
    page: int = Field(
        1, ge=1, le=100_000, description="Page number (1-based); prefer `cursor` for deep pages."
    )
    size: int = Field(20, ge=1, le=100, description="Items per page.")
    sort: ProductSort = Field(
        default_factory=lambda: "newest",
        description="Order: `relevance` by default when `q` is given, `newest` otherwise.",
        json_schema_extra=_sort_by_default,
    )
    cursor: str | None = Field(
        None,
        max_length=1000,
        description="The `next_cursor` of the previous page: the next page in the same order.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_sort(cls, data: Any) -> Any:
        # No sort (or an explicit None from a view) means relevance with q, newest without.
        if isinstance(data, dict) and data.get("sort") is None:
            data = {**data, "sort": "relevance" if data.get("q") else "newest"}
        return data

    @model_validator(mode="after")
    def _relevance_needs_q(self) -> ProductQuery:
        if self.sort == "relevance" and not self.q:
            self.sort = "newest"
        return self

    def scope(self) -> str:
        """What a cursor is bound to: the filters and sort (not the page or size)."""
        parts = (
            self.q or "",
            self.category or "",
            self.seller_id or "",
            str(self.min_rating or ""),
        )
        return "\x1f".join((*parts, self.sort))


class Rating(BaseModel):
    average: float | None = Field(description="mean of the review ratings, null when unrated")
    count: int


class ProductPageInfo(BaseModel):
    """The paging fields of a list response (beside ``items``)."""

    page: int
    size: int
    total: int = Field(description="exact up to 10,000; past that 10,000 with total_exact false")
    total_exact: bool
    next_cursor: str | None
