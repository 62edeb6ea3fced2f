"""`make run` keeps everything a user created across a clean restart, or nothing after a
crash; never SQL rows pointing at photos that are gone (SPEC 2)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from zipbob_devkit import embedded, launcher

from .client import ApiClient
from .photos import photo_jpeg

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


class LauncherProcess:
    def __init__(self, data_dir: Path, ports: dict[str, int]) -> None:
        env = {
            **os.environ,
            "ZIPBOB_DATA_DIR": str(data_dir),
            "ZIPBOB_PROFILE": "local",
            **{f"ZIPBOB_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        }
        self.log = (data_dir.parent / f"launcher-{time.monotonic_ns()}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zipbob_devkit.launcher"],
            env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.gateway = f"http://127.0.0.1:{ports['gateway']}"
        deadline = time.monotonic() + 90
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the launcher did not come up; see {self.log.name}")
            time.sleep(0.3)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.gateway}/healthz/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(60) == 0
        self.log.close()

    def crash(self) -> None:
        """kill -9 of the launcher and of everything it started, as a power cut would."""
        children = [pid for pid in _all_pids() if _parent_of(pid) == self.process.pid]
        for pid in [self.process.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: embedded.free_port() for name in launcher.DEFAULT_PORTS}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "zipbob"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="the crash half reads /proc (Linux)")
def test_a_clean_restart_keeps_everything_and_a_crash_keeps_nothing(data_dir, ports):
    first = LauncherProcess(data_dir, ports)
    api = ApiClient(first.gateway)
    try:
        seller = api.new_user("seller")
        customer = api.new_user("customer")
        created = api.register_product(seller, photo_jpeg(1200, 800))
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        assert api.wait_for_images(product_id)["images"][0]["status"] == "ready"
        review = api.http.post(
            f"/api/products/{product_id}/reviews",
            json={"rating": 5, "title": "Keeps", "body": "Still here after a restart"},
            headers=customer.headers,
        )
        assert review.status_code == 201
    finally:
        api.close()
        first.stop()
    assert (data_dir / "clean-shutdown").is_file()

    second = LauncherProcess(data_dir, ports)
    api = ApiClient(second.gateway)
    try:
        product = api.http.get(f"/api/products/{product_id}").json()
        image = product["images"][0]
        assert image["status"] == "ready"
        for variant in image["variants"].values():
            assert httpx.get(variant["url"], timeout=10).status_code == 200
        summary = api.http.get(f"/api/products/{product_id}/reviews/summary").json()
        assert summary["count"] == 1
        login = api.http.post(
            "/api/auth/login", json={"email": seller.email, "password": seller.password}
        )
        assert login.status_code == 200
        refreshed = api.http.post(
            "/api/auth/refresh", json={"refresh_token": customer.refresh_token}
        )
        assert refreshed.status_code == 200, "sessions (refresh tokens in Redis) were lost"
    finally:
        api.close()
        second.crash()
    assert not (data_dir / "clean-shutdown").exists()

    third = LauncherProcess(data_dir, ports)
    api = ApiClient(third.gateway)
    try:
        assert api.http.get(f"/api/products/{product_id}").status_code == 404
        gone = api.http.post(
            "/api/auth/login", json={"email": seller.email, "password": seller.password}
        )
        assert gone.status_code == 401
    finally:
        api.close()
        third.stop()
