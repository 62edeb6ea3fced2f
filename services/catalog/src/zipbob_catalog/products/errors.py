"""The catalog's domain errors: raised by the service layer, answered as problem+json by
the platform's one DomainError handler (zipbob_platform.problems); the service layer
never imports HTTP machinery."""

from __future__ import annotations

from zipbob_platform.problems import PROBLEM_BASE, DomainError


class CatalogError(DomainError):
    status = 400


class ProductNotFound(CatalogError):
    status = 404

    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id} does not exist")
        self.product_id = product_id


class NotOwner(CatalogError):
    status, type_ = 403, PROBLEM_BASE + "forbidden"


class InvalidProduct(CatalogError):
    status, title, type_ = 422, "Validation failed", PROBLEM_BASE + "validation"


class InvalidCursor(CatalogError):
    status, title, type_ = 422, "Validation failed", PROBLEM_BASE + "invalid-cursor"


class PageTooDeep(CatalogError):
    status, title, type_ = 422, "Validation failed", PROBLEM_BASE + "page-too-deep"
