"""Route table: most specific pattern wins; unsafe and internal paths are never routed."""

from __future__ import annotations

import pytest

from zipbob_gateway.proxy.routes import RouteTable
from zipbob_gateway.settings import RouteSettings


@pytest.fixture
def table() -> RouteTable:
    return RouteTable(
        [
            RouteSettings(id="products", paths=["/api/products", "/api/products/**"], upstream="c"),
            RouteSettings(
                id="product-reviews",
                paths=["/api/products/*/reviews", "/api/products/*/reviews/**"],
                upstream="r",
            ),
            RouteSettings(id="reviews", paths=["/api/reviews/**"], upstream="r"),
            RouteSettings(id="everything", paths=["/**"], upstream="c"),
        ],
        denied_prefixes=["/internal"],
    )


@pytest.mark.parametrize(
    ("path", "route_id", "template"),
    [
        ("/api/products", "products", "/api/products"),
        ("/api/products/", "products", "/api/products/**"),
        ("/api/products/p1", "products", "/api/products/**"),
        ("/api/products/p1/images", "products", "/api/products/**"),
        ("/api/products/p1/reviews", "product-reviews", "/api/products/*/reviews"),
        ("/api/products/p1/reviews/summary", "product-reviews", "/api/products/*/reviews/**"),
        ("/api/reviews/r1", "reviews", "/api/reviews/**"),
        ("/api/reviewsX", "everything", "/**"),
    ],
)
def test_most_specific_pattern_wins(table, path, route_id, template):
    route = table.match(path)
    assert route is not None
    assert (route.id, route.template) == (route_id, template)
    assert table.match(path) is route  # served from the recent-paths cache the second time


@pytest.mark.parametrize(
    "path",
    [
        "/internal",
        "/internal/events",
        "/api/products/../internal/events",
        "/api/products/./p1",
        "/api/products/p1\\..\\x",
        "/api/products/p\x001",
    ],
)
def test_internal_and_dot_segments_are_never_routed(table, path):
    assert table.match(path) is None


def test_methods_and_anonymous_methods():
    route = RouteTable(
        [RouteSettings(id="x", paths=["/x"], upstream="u", methods=["GET", "post"])],
        denied_prefixes=[],
    ).match("/x")
    assert route.methods == {"GET", "POST"}
    assert route.anonymous_methods == {"GET"}
    assert route.allow_header == "GET, POST"


def test_double_star_only_at_the_end():
    with pytest.raises(ValueError, match="last segment"):
        RouteTable([RouteSettings(id="x", paths=["/a/**/b"], upstream="u")], denied_prefixes=[])


def test_the_root_pattern_matches_only_the_root():
    table = RouteTable(
        [
            RouteSettings(id="home", paths=["/"], upstream="w"),
            RouteSettings(id="products", paths=["/api/products/**"], upstream="c"),
        ],
        denied_prefixes=[],
    )
    assert table.match("/") is not None and table.match("/").id == "home"
    assert table.match("/anything") is None
    assert table.match("/api/products/p1").id == "products"
