"""The aggregated API document: the route table decides what is in it; outages shrink it,
never break it; /api/docs and /api/openapi.json are answered by the gateway itself."""

from __future__ import annotations

from typing import Any

from zipbob_devkit import embedded
from zipbob_gateway.apidocs.aggregate import Aggregator
from zipbob_gateway.apidocs.source import UpstreamDocuments, documented_upstreams
from zipbob_gateway.control import is_control_path
from zipbob_gateway.proxy.routes import RouteTable
from zipbob_gateway.settings import GatewaySettings, RouteSettings


def _op(summary: str, *, body: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "ok"}}}
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
    return op


def _table() -> RouteTable:
    return RouteTable(
        [
            RouteSettings(
                id="products", paths=["/api/products", "/api/products/**"], upstream="catalog",
                methods=["GET", "POST", "DELETE"],
            ),
            RouteSettings(
                id="reviews", paths=["/api/products/*/reviews"], upstream="review",
                methods=["GET", "POST"],
            ),
        ],
        denied_prefixes=["/internal"],
    )  # fmt: skip


CATALOG = {
    "paths": {
        "/api/products": {"get": _op("list"), "post": _op("create", body=True)},
        "/api/products/{product_id}": {"delete": _op("delete"), "put": _op("not routed")},
        "/api/products/{product_id}/reviews": {"get": _op("catalog may not answer this")},
        "/internal/events": {"post": _op("never")},
    },
    "components": {"schemas": {"Thing": {"type": "object"}}},
}
REVIEW = {
    "paths": {"/api/products/{product_id}/reviews": {"get": _op("reviews")}},
    "components": {"schemas": {"Thing": {"type": "string"}}},
}
GATEWAY = {"paths": {"/api/auth/login": {"post": _op("login", body=True)}, "/other": {}}}


def test_only_what_the_route_table_sends_to_that_upstream_is_documented() -> None:
    document = Aggregator(_table(), version="9.9.9").build(
        GATEWAY, {"catalog": CATALOG, "review": REVIEW}
    )
    ops = {(m, p): op for p, item in document["paths"].items() for m, op in item.items()}
    assert set(ops) == {
        ("post", "/api/auth/login"),
        ("get", "/api/products"),
        ("post", "/api/products"),
        ("delete", "/api/products/{product_id}"),
        ("get", "/api/products/{product_id}/reviews"),
    }
    assert ops[("get", "/api/products/{product_id}/reviews")]["summary"] == "reviews"
    assert document["info"]["version"] == "9.9.9"
    # The gateway's own answers are documented on proxied operations.
    create = ops[("post", "/api/products")]
    assert {"401", "413", "429", "502", "503", "504"} <= set(create["responses"])
    assert create["security"] == [{"bearerAuth": []}]  # POST is not anonymous at the gateway
    assert "security" not in ops[("get", "/api/products")]
    assert "404" in ops[("delete", "/api/products/{product_id}")]["responses"]
    # Same schema name, different schema: the second service's is renamed, not overwritten.
    assert document["components"]["schemas"]["Thing"] == {"type": "object"}
    assert document["components"]["schemas"]["ReviewThing"] == {"type": "string"}


def test_an_upstream_never_seen_is_left_out_and_named() -> None:
    document = Aggregator(_table(), version="1").build(
        GATEWAY, {"catalog": CATALOG, "review": None}
    )
    assert document["info"]["x-zipbob-missing-upstreams"] == ["review"]
    assert "/api/products" in document["paths"]


async def test_a_down_upstream_keeps_its_last_known_document() -> None:
    port = embedded.free_port()  # nothing listens there
    sources = UpstreamDocuments({"catalog": f"http://127.0.0.1:{port}"}, timeout_seconds=1)
    assert await sources.current() == {"catalog": None}
    sources._known["catalog"] = CATALOG  # as if fetched before the outage
    sources._fetched_at = 0.0
    assert await sources.current() == {"catalog": CATALOG}


def test_docs_paths_are_the_gateways_own() -> None:
    for path in ("/api/openapi.json", "/api/docs", "/api/docs/swagger-ui-bundle.js"):
        assert is_control_path(path)
    assert not is_control_path("/api/docsX")


def test_only_upstreams_routed_under_api_are_asked_for_a_document() -> None:
    settings = GatewaySettings(
        service="gateway",
        upstreams={
            "catalog": {"url": "http://127.0.0.1:1"},
            "web": {"url": "http://127.0.0.1:2"},
        },
        routes=[
            {"id": "products", "paths": ["/api/products/**"], "upstream": "catalog"},
            {"id": "web", "paths": ["/", "/static/**"], "upstream": "web"},
        ],
    )
    assert documented_upstreams(settings) == {"catalog": "http://127.0.0.1:1"}
