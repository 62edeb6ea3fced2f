"""One OpenAPI 3.1 document from the gateway's own and its upstreams' (pure, no I/O).

Only what the route table exposes survives: an upstream operation is kept when the gateway
would send its method and path to that very upstream; `/internal/**` never. The gateway's
own answers (401 for a bad token anywhere, 413, 429, 502/503/504) are added to every
proxied operation, since a client can get them there whatever the service says.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import metadata
from typing import Any

from zipbob_platform.openapi import PROBLEM_SCHEMA, problem_response

from ..proxy.routes import RouteTable

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
_PARAM = re.compile(r"\{[^}/]+\}")
GATEWAY_PATHS = ("/api/auth/", "/.well-known/jwks.json")
REFUSED = "The request head is refused (a body where none belongs, bad framing)."
UNROUTABLE = (
    "Not found; the gateway also answers 404 for a path parameter it will not route "
    "(a `/`, a backslash, a NUL or a dot segment in it)."
)

DESCRIPTION = """\
The ZipBob Commerce public REST API, served through the gateway.

**Start here (sellers):** `POST /api/auth/signup` with `role: seller`, then
`POST /api/auth/login` for an access token, then `POST /api/products` (multipart, with a
photo in `image`) with `Authorization: Bearer <access_token>`. The photo is resized in the
background: poll `GET /api/products/{product_id}` until its image is `ready`.

Errors are RFC 9457 `application/problem+json` (`type`, `title`, `status`, `detail`,
`trace_id`). Every response carries `X-Request-ID`. Lists are pages
`{items, page, size, total, total_exact, next_cursor}`; follow `next_cursor` as `cursor`.
Every client gets 100 requests/s (bursts of 200), then 429 with `Retry-After`.
"""


def gateway_version() -> str:
    try:
        return metadata.version("zipbob-gateway")
    except metadata.PackageNotFoundError:  # pragma: no cover - the package is installed
        return "0.0.0"


def _sample_path(template: str) -> str:
    return _PARAM.sub("x", template)


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.rsplit("/", 1)[-1]
                if value.startswith("#/components/schemas/") and name in renames:
                    value = "#/components/schemas/" + renames[name]
            out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    return node


def _add(operation: dict[str, Any], statuses: dict[int, dict[str, Any]]) -> None:
    responses = operation.setdefault("responses", {})
    for status, response in statuses.items():
        key = str(status)
        if key not in responses:
            responses[key] = response
        responses[key].setdefault("headers", {}).setdefault(
            "X-Request-ID", {"$ref": "#/components/headers/X-Request-ID"}
        )


def _gateway_errors(path: str, operation: dict[str, Any], *, needs_token: bool) -> None:
    """What the gateway itself may answer on a proxied operation."""
    added = {s: problem_response(s) for s in (400, 401, 429, 502, 503, 504)}
    added[400] = problem_response(400, REFUSED)
    if "requestBody" in operation:
        added[408] = problem_response(408, "The request body stopped arriving.")
        added[413] = problem_response(413)
    if "{" in path:
        added[404] = problem_response(404, UNROUTABLE)
    _add(operation, added)
    if needs_token and "security" not in operation:
        operation["security"] = [{"bearerAuth": []}]


def _control_errors(path: str, operation: dict[str, Any]) -> None:
    """The edge limits on the gateway's own endpoints (proxy/control_guard.py)."""
    added: dict[int, dict[str, Any]] = {}
    if "requestBody" in operation:
        added[408] = problem_response(408, "The request body stopped arriving.")
        added[413] = problem_response(413)
    if path.startswith("/api/auth/"):
        added[429] = problem_response(
            429, "Too many /api/auth requests from your address; wait `Retry-After` seconds."
        )
    _add(operation, added)


class Aggregator:
    def __init__(self, table: RouteTable, *, version: str | None = None) -> None:
        self.table = table
        self.version = version or gateway_version()

    def exposed(self, upstream: str, path: str, method: str) -> tuple[bool, bool]:
        """(routed to ``upstream``, needs a token at the gateway)."""
        route = self.table.match(_sample_path(path))
        if route is None or route.upstream != upstream or method.upper() not in route.methods:
            return False, False
        return True, method.upper() not in route.anonymous_methods

    def build(
        self, gateway: dict[str, Any], upstreams: dict[str, dict[str, Any] | None]
    ) -> dict[str, Any]:
        """``upstreams``: name -> its document, or None when it is not known (down)."""
        document: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {
                "title": "ZipBob Commerce API",
                "version": self.version,
                "description": DESCRIPTION,
            },
            "paths": {},
            "components": {"schemas": {"Problem": PROBLEM_SCHEMA}},
            "tags": [
                {"name": "auth", "description": "Accounts and tokens (the gateway)."},
                {"name": "products", "description": "Products and photos (catalog)."},
                {"name": "reviews", "description": "Reviews and rating summaries (review)."},
            ],
        }
        missing = sorted(name for name, doc in upstreams.items() if doc is None)
        if missing:
            document["info"]["x-zipbob-missing-upstreams"] = missing
        self._merge(document, gateway, keep=lambda path, method: (
            path.startswith(GATEWAY_PATHS), False
        ))  # fmt: skip
        for name in sorted(upstreams):
            source = upstreams[name]
            if source is not None:
                self._merge(
                    document,
                    source,
                    keep=lambda path, method, name=name: self.exposed(name, path, method),
                    proxied=True,
                    service=name,
                )
        document["paths"] = dict(sorted(document["paths"].items()))
        return document

    def _merge(
        self,
        document: dict[str, Any],
        source: dict[str, Any],
        *,
        keep: Any,
        proxied: bool = False,
        service: str = "gateway",
    ) -> None:
        source = copy.deepcopy(source)
        components = document["components"]
        theirs = source.get("components", {})
        renames: dict[str, str] = {}
        for name, schema in theirs.get("schemas", {}).items():
            ours = components["schemas"].get(name)
            if ours is not None and json.dumps(ours, sort_keys=True) != json.dumps(
                schema, sort_keys=True
            ):
                renames[name] = service.capitalize() + name
        source = _rename_refs(source, renames)
        for section, entries in source.get("components", {}).items():
            for name, value in entries.items():
                components.setdefault(section, {})[renames.get(name, name)] = value
        for path, item in source.get("paths", {}).items():
            for method in METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                exposed, needs_token = keep(path, method)
                if not exposed:
                    continue
                if proxied:
                    _gateway_errors(path, operation, needs_token=needs_token)
                else:
                    _control_errors(path, operation)
                document["paths"].setdefault(path, {})[method] = operation
            if path in document["paths"] and "parameters" in item:
                document["paths"][path]["parameters"] = item["parameters"]


def canonical(document: dict[str, Any]) -> str:
    """The committed form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
