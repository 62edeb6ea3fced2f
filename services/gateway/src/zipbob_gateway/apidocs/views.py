"""`GET /api/openapi.json` and `GET /api/docs` (Swagger UI from the swagger-ui-bundle-v2
package's files; nothing from a CDN). Served by the control app, never proxied."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from swagger_ui_bundle import swagger_ui_path

from zipbob_platform.openapi import BEARER_DESCRIPTION, finish_document
from zipbob_platform.problems import Problem

from ..proxy.routes import RouteTable
from ..settings import GatewaySettings
from .aggregate import Aggregator, canonical
from .source import UpstreamDocuments, documented_upstreams

OPENAPI_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
STATIC = Path(str(resources.files(__package__) / "static"))
SWAGGER = Path(str(swagger_ui_path))
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui.css": (SWAGGER / "swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": (SWAGGER / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "favicon-32x32.png": (SWAGGER / "favicon-32x32.png", "image/png"),
    "init.js": (STATIC / "init.js", "text/javascript; charset=utf-8"),
    "docs.css": (STATIC / "docs.css", "text/css; charset=utf-8"),
}
# Everything from this origin, nothing inline, nothing framed. Swagger UI renders schemas
# as data: SVG images; "Try it out" calls this origin only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


class ApiDocument:
    """The aggregated document, rebuilt only when an upstream's document changed."""

    def __init__(self, control: FastAPI, aggregator: Aggregator, sources: UpstreamDocuments):
        self.control = control
        self.aggregator = aggregator
        self.sources = sources
        self._built: tuple[int, bytes] | None = None

    def gateway_document(self) -> dict[str, Any]:
        document = get_openapi(title="gateway", version="0", routes=self.control.routes)
        return finish_document(document, bearer_description=BEARER_DESCRIPTION)

    async def body(self) -> bytes:
        upstreams = await self.sources.current()
        complete = all(doc is not None for doc in upstreams.values())
        key = self.sources.version
        if self._built is not None and self._built[0] == key and complete:
            return self._built[1]
        body = canonical(self.aggregator.build(self.gateway_document(), upstreams)).encode()
        if complete:
            self._built = (key, body)
        return body


@router.get(OPENAPI_PATH)
async def openapi_document(request: Request) -> Response:
    document: ApiDocument | None = getattr(request.app.state, "api_document", None)
    if document is None:
        raise Problem(503, "the gateway is starting; retry shortly", headers={"Retry-After": "1"})
    return Response(
        await document.body(),
        media_type="application/json",
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )


@router.get(DOCS_PATH)
async def docs_page(_: Request) -> Response:
    return FileResponse(
        STATIC / "docs.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS
    )


@router.get(DOCS_PATH + "/{asset}")
async def docs_asset(asset: str) -> Response:
    found = ASSETS.get(asset)
    if found is None:
        raise Problem(404, f"no docs asset {asset!r}")
    path, media_type = found
    return FileResponse(
        path,
        media_type=media_type,
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"},
    )


def install_api_document(control: FastAPI, settings: GatewaySettings) -> None:
    """Put the aggregated document on the control app (its own route table: the same
    settings the proxy's is built from)."""
    table = RouteTable(settings.routes, denied_prefixes=settings.proxy.denied_prefixes)
    control.state.api_document = ApiDocument(
        control, Aggregator(table), UpstreamDocuments(documented_upstreams(settings))
    )


def is_docs_path(path: str) -> bool:
    return path in (OPENAPI_PATH, DOCS_PATH) or path.startswith(DOCS_PATH + "/")
