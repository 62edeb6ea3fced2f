"""OpenAPI 3.1 pieces every service shares: the RFC 9457 problem schema, the bearer scheme,
per-operation error documentation, and the finishing pass over FastAPI's document.

Views pass ``**operation(...)`` to their route decorators; nothing here runs per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

PROBLEM_REF = "#/components/schemas/Problem"
BEARER = "bearerAuth"
# Statuses whose problem answers carry Retry-After (rate limits, outages).
RETRY_AFTER_STATUSES = frozenset({429, 503})

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details (application/problem+json).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "trace_id"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "Problem type URI."},
        "title": {"type": "string", "description": "Short summary of the problem type."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "trace_id": {
            "type": ["string", "null"],
            "description": "OpenTelemetry trace id (32 hex digits); quote it to support.",
        },
        "request_id": {"type": ["string", "null"], "description": "Echo of X-Request-ID."},
        "instance": {"type": "string", "description": "The request path."},
        "errors": {
            "type": "array",
            "description": "Validation failures (422 only): where and why.",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
    "examples": [
        {
            "type": "https://zipbob.dev/problems/not-found",
            "title": "Not Found",
            "status": 404,
            "detail": "product nope does not exist",
            "trace_id": "33e77a7f8cb2ba9b23fd741bda488f3b",
            "request_id": "d3d5408b010e9893c4b4414478ec9751",
            "instance": "/api/products/nope",
        }
    ],
}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body cannot be parsed (not UTF-8, broken framing).",
    401: "No bearer access token, or it is invalid or expired.",
    403: "The token is valid but its role or ownership does not allow this.",
    404: "Not found.",
    405: "Method not allowed here.",
    409: "Conflicts with the current state.",
    413: "The request body is too large.",
    415: "Unsupported media type.",
    422: "The request is not valid; `errors` says where and why.",
    429: "Too many requests; wait `Retry-After` seconds.",
    502: "An upstream service could not be reached.",
    503: "A dependency is unavailable; retry after `Retry-After` seconds.",
    504: "An upstream service did not answer in time.",
}

HEADERS: dict[str, Any] = {
    "X-Request-ID": {
        "description": "The request's id (echoed if the client sent one); logs carry it too.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Location": {
        "description": "Path of the created resource.",
        "schema": {"type": "string"},
    },
}


# What the services really answer (detail texts from their code), one per status.
EXAMPLE_DETAILS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "There was an error parsing the body"),
    401: ("unauthorized", "this request needs a bearer access token"),
    403: ("forbidden", "only the seller who owns this product may change it"),
    404: ("not-found", "product nope does not exist"),
    405: ("method-not-allowed", "PUT is not allowed here"),
    408: ("request-timeout", "the request body stopped arriving"),
    409: ("conflict", "an account with this email already exists"),
    413: ("request-entity-too-large", "the request body exceeds 22020096 bytes"),
    415: ("unsupported-image-type", "only JPEG, PNG and WebP images are accepted"),
    422: ("validation", "price: Value error, price must be a decimal string such as '19.99'"),
    429: ("too-many-requests", "too many requests; slow down"),
    502: ("bad-gateway", "the catalog service could not be reached"),
    503: ("service-unavailable", "the catalog service is unavailable; retry later"),
    504: ("gateway-timeout", "the catalog service did not answer in time"),
}


def problem_example(status: int) -> dict[str, Any]:
    kind, detail = EXAMPLE_DETAILS.get(status, ("about:blank", HTTPStatus(status).phrase))
    example: dict[str, Any] = {
        "type": "https://zipbob.dev/problems/" + kind,
        "title": "Validation failed" if status == 422 else HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "trace_id": "33e77a7f8cb2ba9b23fd741bda488f3b",
        "request_id": "d3d5408b010e9893c4b4414478ec9751",
        "instance": "/api/products",
    }
    if status == 422:
        example["errors"] = [
            {
                "loc": ["body", "price"],
                "msg": "Value error, price must be a decimal string such as '19.99'",
                "type": "value_error",
            }
        ]
    return example


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        "content": {
            "application/problem+json": {
                "schema": {"$ref": PROBLEM_REF},
                "example": problem_example(status),
            }
        },
    }
    if status in RETRY_AFTER_STATUSES:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    return response


def errors(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """Problem responses for FastAPI ``responses``: ``errors(404, 422, e409="taken")``."""
    found: dict[int | str, dict[str, Any]] = {s: problem_response(s) for s in statuses}
    for key, description in described.items():
        status = int(key.removeprefix("e"))
        found[status] = problem_response(status, description)
    return dict(sorted(found.items(), key=lambda item: str(item[0])))


def security(*roles: str) -> list[dict[str, list[str]]]:
    """Alternatives: any one of the roles (OpenAPI 3.1 lets a bearer requirement list roles)."""
    return [{BEARER: [role]} for role in roles] if roles else [{BEARER: []}]


def operation(
    *,
    summary: str,
    description: str = "",
    roles: Iterable[str] | None = None,
    ok: dict[int | str, dict[str, Any]] | None = None,
    errors_: dict[int | str, dict[str, Any]] | None = None,
    operation_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for a FastAPI route decorator.

    ``roles`` None: anonymous; an empty tuple: any signed-in user; else any one of them.
    """
    openapi_extra: dict[str, Any] = dict(extra or {})
    who = "Anyone, no token needed."
    if roles is not None:
        roles = tuple(roles)
        openapi_extra["security"] = security(*roles)
        who = (
            "Bearer token with role " + " or ".join(f"`{r}`" for r in roles) + "."
            if roles
            else "Any signed-in user (bearer token)."
        )
    responses: dict[int | str, dict[str, Any]] = {**(ok or {}), **(errors_ or {})}
    kwargs: dict[str, Any] = {
        "summary": summary,
        "description": f"{description}\n\n**Who:** {who}".strip(),
        "responses": responses,
        "openapi_extra": openapi_extra,
    }
    if operation_id:
        kwargs["operation_id"] = operation_id
    return kwargs


def _walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _tidy_ref(schema: dict[str, Any]) -> None:
    # A `responses={200: {"model": X}}` entry merged into the schema FastAPI derived from a
    # `dict[str, Any]` return annotation: keep the documented model only.
    if "$ref" in schema and schema.get("additionalProperties") is True:
        for key in ("type", "additionalProperties", "title"):
            schema.pop(key, None)


def finish_document(document: dict[str, Any], *, bearer_description: str) -> dict[str, Any]:
    """Add shared components, headers on every response, and drop FastAPI's JSON 422."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["headers"] = {**components.get("headers", {}), **HEADERS}
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": bearer_description,
    }
    for item in document.get("paths", {}).values():
        for method, op in item.items():
            if method not in {"get", "put", "post", "patch", "delete", "head", "options"}:
                continue
            if "requestBody" in op:
                op.setdefault("responses", {}).setdefault("400", problem_response(400))
            for status, response in op.get("responses", {}).items():
                if status == "422":
                    op["responses"][status] = {**problem_response(422), **_desc(response)}
                    response = op["responses"][status]
                headers = response.setdefault("headers", {})
                headers.setdefault("X-Request-ID", {"$ref": "#/components/headers/X-Request-ID"})
                if status.isdigit() and int(status) in RETRY_AFTER_STATUSES:
                    headers.setdefault("Retry-After", {"$ref": "#/components/headers/Retry-After"})
    _walk(document.get("paths", {}), _tidy_ref)
    return document


def _desc(response: dict[str, Any]) -> dict[str, Any]:
    description = response.get("description")
    if description and description != "Validation Error":
        return {"description": description}
    return {}


BEARER_DESCRIPTION = (
    "An access token from `POST /api/auth/login` (ES256 JWT, 15 minutes; verify with "
    "`/.well-known/jwks.json`). Its `role` claim is `seller`, `customer` or `admin`; each "
    "operation lists the roles it accepts in its security requirement."
)


def install_openapi(app: Any, *, description: str = "") -> None:
    """Replace ``app.openapi`` with FastAPI's document passed through ``finish_document``."""
    from fastapi.openapi.utils import get_openapi

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=description or app.description,
                routes=app.routes,
            )
            app.openapi_schema = finish_document(document, bearer_description=BEARER_DESCRIPTION)
        return app.openapi_schema  # type: ignore[no-any-return]

    app.openapi = build
