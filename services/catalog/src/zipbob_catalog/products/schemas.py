"""Request and response shapes of the products API (SPEC 3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zipbob_catalog.products.money import CURRENCIES, check_price_for_currency, parse_price

ProductSort = Literal["newest", "price_asc", "price_desc"]


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


class ProductQuery(BaseModel):
    q: str | None = Field(None, max_length=200)
    category: str | None = Field(None, max_length=100)
    seller_id: str | None = Field(None, max_length=64)
    page: int = Field(1, ge=1, le=100_000)
    size: int = Field(20, ge=1, le=100)
    sort: ProductSort = "newest"
