"""The fault proxy must really cut and restore traffic to a real server (Redis here)."""

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from zipbob_devkit.faults import TcpProxy


@pytest.fixture
def proxy() -> TcpProxy:
    proxy = TcpProxy(6379).start()
    yield proxy
    proxy.stop()


def client(proxy: TcpProxy) -> redis.Redis:
    return redis.Redis(
        port=proxy.port,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )


def test_traffic_flows_then_is_cut_then_flows_again(proxy: TcpProxy) -> None:
    conn = client(proxy)
    assert conn.ping()
    proxy.cut()
    with pytest.raises(redis.ConnectionError):
        client(proxy).ping()
    proxy.restore()
    assert client(proxy).ping()


def test_blackhole_times_out_instead_of_refusing(proxy: TcpProxy) -> None:
    proxy.blackhole()
    with pytest.raises(redis.TimeoutError):
        client(proxy).ping()
    proxy.restore()
    assert client(proxy).ping()
