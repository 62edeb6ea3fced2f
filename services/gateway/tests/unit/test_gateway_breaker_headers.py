"""The header filters (pure, no I/O). The circuit breaker is the platform's (its tests are
in libs/zipbob-platform/tests/unit/test_platform_breaker.py)."""

from __future__ import annotations

from zipbob_gateway.proxy.edge import TrustedProxies
from zipbob_gateway.proxy.headers import downstream_response_headers, upstream_request_headers


def test_request_headers_drop_hop_by_hop_and_set_forwarding():
    incoming = [
        (b"host", b"shop.example"),
        (b"connection", b"keep-alive, x-private"),
        (b"x-private", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"transfer-encoding", b"chunked"),
        (b"upgrade", b"h2c"),
        (b"te", b"trailers"),
        (b"proxy-authorization", b"Basic x"),
        (b"traceparent", b"00-client-trace"),
        (b"x-request-id", b"client-id"),
        (b"authorization", b"Bearer t"),
        (b"content-length", b"12"),
    ]
    out = dict(
        upstream_request_headers(
            incoming,
            forwarded_for="198.51.100.7",
            scheme="https",
            request_id="rid",
            traceparent="00-gateway-span",
        )
    )
    assert out == {
        "authorization": "Bearer t",
        "content-length": "12",
        "x-forwarded-for": "198.51.100.7",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "shop.example",
        "x-request-id": "rid",
        "traceparent": "00-gateway-span",
    }


def test_response_headers_drop_hop_by_hop():
    raw = (
        (b"Content-Type", b"application/json"),
        (b"Connection", b"close, X-Internal"),
        (b"X-Internal", b"1"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Date", b"Tue"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
    )
    assert downstream_response_headers(raw) == [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]


def test_the_proxy_token_never_goes_upstream():
    out = upstream_request_headers(
        [(b"x-zipbob-proxy-token", b"the-credential"), (b"accept", b"*/*")],
        forwarded_for="198.51.100.7",
        scheme="http",
        request_id="rid",
        traceparent=None,
    )
    assert [name for name, _ in out if name == "x-zipbob-proxy-token"] == []
    assert all("the-credential" not in value for _, value in out)


def _scope(peer: str, *headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"client": (peer, 50000), "headers": list(headers)}


def test_a_hop_is_trusted_by_its_address_or_by_the_token():
    xff = (b"x-forwarded-for", b"203.0.113.5, 10.1.2.3")
    token = (b"x-zipbob-proxy-token", b"s3cret")
    proxies = TrustedProxies(["10.0.0.0/8"], "s3cret")
    # The console on loopback, carrying the ingress's chain: the browser is found again.
    assert proxies.resolve(_scope("127.0.0.1", xff, token)) == (
        "203.0.113.5",
        "203.0.113.5, 10.1.2.3, 127.0.0.1",
    )
    assert proxies.resolve(_scope("127.0.0.1", xff))[0] == "127.0.0.1"
    assert proxies.resolve(_scope("127.0.0.1", xff, (token[0], b"s3creT")))[0] == "127.0.0.1"
    assert proxies.resolve(_scope("127.0.0.1", xff, token, token))[0] == "127.0.0.1"
    assert proxies.resolve(_scope("10.9.9.9", xff))[0] == "203.0.113.5"
    # No token configured: a presented one means nothing.
    assert TrustedProxies([]).resolve(_scope("127.0.0.1", xff, token))[0] == "127.0.0.1"
