"""The catalog's domain errors: raised by the service layer, mapped to problem+json once.

Plain exceptions carrying the HTTP status and title they become, so the service layer
never imports HTTP machinery; ``install_catalog_errors`` registers the single mapping.
(When the platform gains a shared DomainError base, these can derive from it unchanged.)
"""

from __future__ import annotations

from typing import Any, ClassVar

from zipbob_platform.problems import PROBLEM_BASE, problem_response


class CatalogError(Exception):
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    type_: ClassVar[str | None] = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ProductNotFound(CatalogError):
    status, title = 404, "Not Found"

    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id} does not exist")
        self.product_id = product_id


class NotOwner(CatalogError):
    status, title = 403, "Forbidden"


class InvalidProduct(CatalogError):
    status, title, type_ = 422, "Validation failed", PROBLEM_BASE + "validation"


class InvalidCursor(CatalogError):
    status, title, type_ = 422, "Validation failed", PROBLEM_BASE + "invalid-cursor"


class PageTooDeep(CatalogError):
    status, title, type_ = 422, "Validation failed", PROBLEM_BASE + "page-too-deep"


async def _on_catalog_error(request: Any, exc: Exception) -> Any:
    assert isinstance(exc, CatalogError)
    return problem_response(
        exc.status,
        exc.detail,
        title=exc.title,
        type_=exc.type_,
        instance=request.url.path,
    )


def install_catalog_errors(app: Any) -> None:
    app.add_exception_handler(CatalogError, _on_catalog_error)
