"""The whole platform, started once by the launcher on free ports, for the web console's
integration and browser tests (the console talks to nothing but the gateway)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from zipbob_devkit import embedded, launcher

sys.path.insert(0, str(Path(__file__).parent))

from web_helpers import Platform

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT_SECONDS = 120
START_ATTEMPTS = 3


def _launch(root: Path) -> tuple[subprocess.Popen[bytes], Platform]:
    root.mkdir(parents=True)
    ports = {name: embedded.free_port() for name in launcher.DEFAULT_PORTS}
    env = {
        **os.environ,
        "ZIPBOB_DATA_DIR": str(root / "data"),
        "ZIPBOB_PROFILE": "local",
        **{f"ZIPBOB_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    log_path = root / "launcher.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "zipbob_devkit.launcher"],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    return process, Platform(gateway=gateway, web=f"http://127.0.0.1:{ports['web']}", log=log_path)


def _wait_until_up(process: subprocess.Popen[bytes], found: Platform) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not (_up(f"{found.gateway}/healthz/live") and _up(f"{found.gateway}/")):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            return False
        time.sleep(0.3)
    return True


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


WEB_TESTS = Path(__file__).resolve().parent
_stops: list[Callable[[], None]] = []


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the platform once the console's last test is done, rather than letting it idle
    through the rest of `make test` (a session fixture would live that long)."""
    if nextitem is None or WEB_TESTS not in Path(nextitem.path).resolve().parents:
        while _stops:
            _stops.pop()()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    reuse = os.environ.get("ZIPBOB_WEB_TEST_GATEWAY")  # a `make run` already up, to iterate
    if reuse:
        yield Platform(gateway=reuse.rstrip("/"), web="", log=Path("/dev/null"))
        return
    root = tmp_path_factory.mktemp("web-platform")
    # A free port is free only until someone binds it: with other suites starting servers
    # at the same time (the embedded S3 picks its own), a start can lose one; retry.
    for attempt in range(START_ATTEMPTS):
        process, found = _launch(root / f"attempt-{attempt}")
        if _wait_until_up(process, found):
            break
        text = found.log.read_text(errors="replace")
        if "already in use" not in text or attempt == START_ATTEMPTS - 1:
            raise AssertionError(f"the platform did not come up:\n{text[-3000:]}")

    def stop() -> None:
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    _stops.append(stop)
    try:
        yield found
    finally:
        stop()
