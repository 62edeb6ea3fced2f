"""The two hot public reads, answered before FastAPI's routing and dependency resolution.

``GET /api/products/{product_id}`` and ``GET /api/products`` with plain parameters are most
of the catalog's traffic, and FastAPI's per-request machinery (route matching through the
included routers, solving four dependencies, validating nine query parameters) cost more CPU
than the SQL and the JSON together. This middleware sits inside the platform's request-id,
tracing, logging and metrics middleware (so those see the request as before, labelled with
the same route template) and hands a request it recognises straight to the view functions
the FastAPI routes use (``views.product_response`` / ``views.list_response``). Anything
else (HEAD, a parameter it does not check itself, a value FastAPI might coerce or refuse,
a mounted root path) goes on to FastAPI unchanged, so validation errors keep FastAPI's
exact problem+json. Domain errors raised here are answered by the app's own exception
handlers, looked up as Starlette's ExceptionMiddleware does.
"""

from __future__ import annotations

import re
from typing import Any, get_args
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from zipbob_catalog.products import views
from zipbob_catalog.products.schemas import ProductQuery, ProductSort
from zipbob_platform.middleware import header

PREFIX = "/api/products"
LIST_ROUTE = PREFIX
ONE_ROUTE = PREFIX + "/{product_id}"


def _bound(name: str, attr: str) -> int:
    """A limit ProductQuery (the route's one declaration) sets on a field: max_length, le."""
    for rule in ProductQuery.model_fields[name].metadata:
        if hasattr(rule, attr):
            return int(getattr(rule, attr))
    raise LookupError(f"ProductQuery.{name} declares no {attr}")


# The query parameters checked here, with the bounds ProductQuery declares for them.
_STRINGS = {name: _bound(name, "max_length") for name in ("q", "category", "seller_id", "cursor")}
_BOUNDED_INTS = {name: _bound(name, "le") for name in ("page", "size")}
_PLAIN_INT = re.compile(r"[1-9][0-9]{0,5}")
_SORTS = frozenset(get_args(ProductSort))


def plain_list_query(raw: bytes) -> ProductQuery | None:
    """The ProductQuery for a query string FastAPI would accept as it stands, or None
    when FastAPI should look at it (repeats, unknown names, anything it would coerce)."""
    if not raw:
        return ProductQuery()
    values: dict[str, Any] = {}
    # Decoded as Starlette's QueryParams does.
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name in values or not value:
            return None  # a repeat, or an empty value (FastAPI decides what those mean)
        limit = _STRINGS.get(name)
        if limit is not None:
            if len(value) > limit:
                return None
            values[name] = value
        elif name in _BOUNDED_INTS:
            if not _PLAIN_INT.fullmatch(value) or int(value) > _BOUNDED_INTS[name]:
                return None
            values[name] = int(value)
        elif name == "sort" and value in _SORTS:
            values[name] = value
        else:
            return None  # min_rating (a Decimal), an unknown name, an unknown sort
    return ProductQuery(**values)


def _handler_for(app: Any, exc: Exception) -> Any:
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:  # ServerErrorMiddleware's, outside the request middleware
            return None
        handler = handlers.get(cls)
        if handler is not None:
            return handler
    return None


class PublicReadFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        query = None
        product_id = ""
        if path == PREFIX:
            query = plain_list_query(scope["query_string"])
            if query is None:
                await self.app(scope, receive, send)
                return
            scope["zipbob.route"] = LIST_ROUTE
        elif path.startswith(PREFIX + "/") and "/" not in path[len(PREFIX) + 1 :]:
            product_id = path[len(PREFIX) + 1 :]
            if not product_id:
                await self.app(scope, receive, send)
                return
            scope["zipbob.route"] = ONE_ROUTE
        else:
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        container = app.state.container
        if_none_match = header(scope, b"if-none-match")
        try:
            if query is not None:
                response = await views.list_response(
                    container.runtime, container.products, query, if_none_match
                )
            else:
                response = await views.product_response(
                    container.runtime, container.products, product_id, if_none_match
                )
        except Exception as exc:
            handler = _handler_for(app, exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)
