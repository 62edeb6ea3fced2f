"""The web console is a trusted first hop by credential, not by address.

Every API call of the console comes from the console's own address (127.0.0.1 in `make run`,
where trusting loopback would re-open issue 12 finding 5). With ``edge.proxy_token`` the
gateway believes the X-Forwarded-For of a request presenting that token in
X-ZipBob-Proxy-Token, so each browser behind the console keeps its own limits; a wrong or
missing token leaves the header ignored. The token never goes upstream, nor into the log.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from zipbob_devkit.embedded import free_port
from zipbob_devkit.testing import service_env, unique_name

from .conftest import PASSWORD, GatewayProcess, GatewayStarter, new_customer

pytestmark = pytest.mark.integration
TOKEN = "proxy-" + uuid.uuid4().hex
HEADER = "X-ZipBob-Proxy-Token"
AUTH_BURST = 20  # /api/auth/* requests per address before 429 (refilled at 0.01/s)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def _hop(ip: str, token: str | None) -> dict[str, str]:
    headers = {"X-Forwarded-For": ip}
    if token is not None:
        headers[HEADER] = token
    return headers


async def _bad_login(client: httpx.AsyncClient, email: str, headers: dict[str, str]) -> int:
    answer = await client.post(
        "/api/auth/login", json={"email": email, "password": "wrong guess!"}, headers=headers
    )
    return answer.status_code


def _metric(text: str, reason: str) -> float:
    pattern = rf'^zipbob_proxy_token_ignored_total\{{reason="{reason}"\}} (\S+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture(scope="module")
def credential_gateway(gateway_starter: GatewayStarter) -> GatewayProcess:
    """No trusted CIDR (as locally): only the token makes a hop trusted."""
    return gateway_starter(
        ZIPBOB_EDGE__PROXY_TOKEN=TOKEN,
        ZIPBOB_RATE_LIMITS__AUTH__BURST=str(AUTH_BURST),
        ZIPBOB_RATE_LIMITS__AUTH__RATE_PER_SECOND="0.01",
        ZIPBOB_LOGGING__LEVEL="INFO",
    )


async def test_with_the_token_each_forwarded_address_has_its_own_login_limit(credential_gateway):
    async with httpx.AsyncClient(base_url=credential_gateway.url, timeout=20) as client:
        email = await new_customer(client)
        first, second = _hop("203.0.113.21", TOKEN), _hop("203.0.113.22", TOKEN)
        assert [await _bad_login(client, email, first) for _ in range(5)] == [401] * 5
        assert await _bad_login(client, email, first) == 429
        assert await _bad_login(client, email, second) == 401
        good = await client.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD}, headers=second
        )
        assert good.status_code == 200, good.text


async def test_with_the_token_each_forwarded_address_has_its_own_auth_bucket(credential_gateway):
    async with httpx.AsyncClient(base_url=credential_gateway.url, timeout=20) as client:
        first, second = _hop("198.51.100.31", TOKEN), _hop("198.51.100.32", TOKEN)

        async def refresh(headers: dict[str, str]) -> int:
            answer = await client.post(
                "/api/auth/refresh", json={"refresh_token": "garbage"}, headers=headers
            )
            return answer.status_code

        statuses = [await refresh(first) for _ in range(AUTH_BURST + 1)]
        assert set(statuses[:AUTH_BURST]) == {401} and statuses[-1] == 429, statuses
        assert await refresh(second) == 401


@pytest.mark.parametrize("token", ["wrong-" + uuid.uuid4().hex, None], ids=["wrong", "missing"])
async def test_without_the_token_forwarded_addresses_are_ignored(credential_gateway, token):
    async with httpx.AsyncClient(base_url=credential_gateway.url, timeout=20) as client:
        email = await new_customer(client)
        # Five different claimed addresses, one lock-out: all of them are the peer.
        claims = [_hop(f"192.0.2.{n}", token) for n in range(1, 7)]
        assert [await _bad_login(client, email, claims[n]) for n in range(5)] == [401] * 5
        assert await _bad_login(client, email, claims[5]) == 429


async def test_the_token_never_goes_upstream_nor_into_the_log(credential_gateway, echo_upstream):
    async with httpx.AsyncClient(base_url=credential_gateway.url, timeout=20) as client:
        before = (await client.get("/metrics")).text
        right = await client.get("/api/products", headers=_hop("198.51.100.9", TOKEN))
        wrong = await client.get("/api/products", headers=_hop("198.51.100.9", "nope"))
        repeated = await client.get(
            "/api/products",
            headers=[("X-Forwarded-For", "198.51.100.9"), (HEADER, TOKEN), (HEADER, TOKEN)],
        )
        after = (await client.get("/metrics")).text
    assert right.status_code == wrong.status_code == repeated.status_code == 200
    seen = [r["headers"] for r in echo_upstream.requests]
    assert [h["x-forwarded-for"] for h in seen] == ["198.51.100.9, 127.0.0.1", *["127.0.0.1"] * 2]
    assert all(HEADER.lower() not in h for h in seen)
    assert all(TOKEN not in str(h) for h in seen)
    # A wrong token is no error for the client, only a count with its reason.
    assert _metric(after, "mismatch") == _metric(before, "mismatch") + 1
    assert _metric(after, "repeated") == _metric(before, "repeated") + 1
    assert TOKEN not in credential_gateway.log.read_text(errors="replace")


# ---- end to end: browsers -> ingress -> gateway -> web console -> gateway ----------------

INGRESS = "127.0.0.2"  # the browsers' proxy: trusted by address (CIDR), as an ingress is


@pytest.fixture(scope="module")
def console(
    gateway_starter: GatewayStarter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A real web console behind a gateway that trusts the ingress by address and the
    console (on 127.0.0.1, not trusted by address) by its token alone."""
    web_port = free_port()
    gateway = gateway_starter(
        ZIPBOB_EDGE__PROXY_TOKEN=TOKEN,
        ZIPBOB_EDGE__TRUSTED_PROXIES=f"{INGRESS}/32",
        ZIPBOB_WEB_PORT=str(web_port),
    )
    data_dir = tmp_path_factory.mktemp("proxy-console") / unique_name("web")
    data_dir.mkdir()
    log = data_dir / "web.log"
    env = service_env(
        "web",
        port=web_port,
        data_dir=data_dir,
        ZIPBOB_WEB__GATEWAY_URL=gateway.url,
        ZIPBOB_WEB__GATEWAY_PROXY_TOKEN=TOKEN,
        ZIPBOB_WEB__SESSION__SECURE_COOKIES="false",  # plain http here
        ZIPBOB_LOGGING__LEVEL="WARNING",
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "zipbob_web"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web console did not start: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{gateway.url}/auth/login", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _browser(gateway: GatewayProcess, address: str) -> httpx.AsyncClient:
    """A browser at ``address``, reaching the gateway through the ingress on 127.0.0.2."""
    transport = httpx.AsyncHTTPTransport(local_address=INGRESS)
    return httpx.AsyncClient(
        base_url=gateway.url,
        transport=transport,
        timeout=20,
        headers={"X-Forwarded-For": address},
    )


async def _console_login(browser: httpx.AsyncClient, email: str, password: str) -> int:
    page = await browser.get("/auth/login")
    match = CSRF_FIELD.search(page.text)
    assert match, page.text[:500]
    answer = await browser.post(
        "/auth/login",
        data={"csrf_token": match.group(1), "email": email, "password": password, "next": ""},
    )
    return answer.status_code


async def test_two_browsers_behind_the_console_keep_their_own_login_limits(console):
    async with httpx.AsyncClient(base_url=console.url, timeout=20) as direct:
        email = await new_customer(direct)
    async with _browser(console, "203.0.113.51") as first, _browser(console, "203.0.113.52") as b:
        assert [await _console_login(first, email, "wrong!") for _ in range(5)] == [401] * 5
        assert await _console_login(first, email, "wrong!") == 429
        # The other browser on the same console is not locked out by the first one.
        assert await _console_login(b, email, "wrong!") == 401
        assert await _console_login(b, email, PASSWORD) == 303
