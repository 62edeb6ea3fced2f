"""Write docs/openapi.json: the document the gateway serves at /api/openapi.json.

    .venv/bin/python scripts/openapi_snapshot.py             # regenerate the snapshot
    .venv/bin/python scripts/openapi_snapshot.py --accept    # also make it the new baseline

It starts the platform as `make run` does (local profile, a throw-away data dir, free
ports), fetches the document through the gateway and writes it with sorted keys, so the
file only changes when the API does. `--accept` copies it to docs/openapi.previous.json:
the baseline the breaking-change check compares against; accept only on purpose.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "docs" / "openapi.json"
PREVIOUS = REPO / "docs" / "openapi.previous.json"
SERVICES = ("gateway", "catalog", "review", "resizer")


def free_port() -> int:
    from zipbob_devkit import embedded

    return embedded.free_port()


class LaunchedPlatform:
    """`python -m zipbob_devkit.launcher` in the local profile on free ports."""

    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None) -> None:
        self.ports = {name: free_port() for name in SERVICES}
        self.log_path = data_dir.parent / f"launcher-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zipbob_devkit.launcher"],
            env={
                **os.environ,
                "ZIPBOB_DATA_DIR": str(data_dir),
                "ZIPBOB_PROFILE": "local",
                **{f"ZIPBOB_{name.upper()}_PORT": str(p) for name, p in self.ports.items()},
                **(env or {}),
            },
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.gateway = f"http://127.0.0.1:{self.ports['gateway']}"
        self.urls = {name: f"http://127.0.0.1:{p}" for name, p in self.ports.items()}
        try:
            self._wait_ready(deadline=time.monotonic() + 180)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, *, deadline: float) -> None:
        wanted = [f"{self.urls[name]}/healthz/ready" for name in ("catalog", "review")]
        wanted.append(f"{self.gateway}/healthz/live")
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._log.flush()
                tail = self.log_path.read_text(errors="replace").splitlines()[-30:]
                raise RuntimeError(
                    "the platform did not come up; the launcher's last lines:\n" + "\n".join(tail)
                )
            try:
                if all(httpx.get(url, timeout=2).status_code == 200 for url in wanted):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()


def fetch_document(gateway: str) -> dict[str, Any]:
    response = httpx.get(f"{gateway}/api/openapi.json", timeout=30)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    missing = document["info"].get("x-zipbob-missing-upstreams")
    if missing:
        raise RuntimeError(f"upstreams missing from the document: {missing}")
    return document


def canonical(document: dict[str, Any]) -> str:
    from zipbob_gateway.apidocs.aggregate import canonical as gateway_canonical

    return gateway_canonical(document)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accept", action="store_true", help="also update the baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zipbob-openapi-") as tmp:
        platform = LaunchedPlatform(Path(tmp) / "data")
        try:
            text = canonical(fetch_document(platform.gateway))
        finally:
            platform.stop()
    SNAPSHOT.write_text(text)
    print(f"wrote {SNAPSHOT.relative_to(REPO)} ({len(text)} bytes)")
    if args.accept or not PREVIOUS.exists():
        PREVIOUS.write_text(text)
        print(f"wrote {PREVIOUS.relative_to(REPO)} (the breaking-change baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
