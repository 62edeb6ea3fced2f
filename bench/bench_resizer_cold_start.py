"""Resizer cold start (Knative scale from zero): process start to first event answered.

Each run starts a fresh `python -m zipbob_resizer` on a free port (results by reply, so no
broker is involved), POSTs one `image.uploaded` event for a 1200x800 JPEG in moto S3 and
stops the clock at the 2xx. The baseline from the same run is a bare interpreter start
(`python -c pass`) and a process that only imports the resizer's app module, so the figures
say how much of the cold start is ours. Budget (issue #4): 1.5 s on an idle 2-core machine.

    .venv/bin/python bench/bench_resizer_cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from PIL import Image

from zipbob_devkit.embedded import free_port, start_s3
from zipbob_devkit.testing import upload_original
from zipbob_platform.cloudevents import new_event, to_http_binary
from zipbob_platform.events import CATALOG_SOURCE, IMAGE_UPLOADED

SECRET = "bench-event-secret"
BUDGET_SECONDS = 1.5


def jpeg(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height))
    for x in range(0, width, 40):
        image.paste((x % 255, (x * 3) % 255, 120), (x, 0, x + 20, height))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def timed(cmd: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def cold_start(env: dict[str, str], headers: dict[str, str], body: bytes) -> float:
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "zipbob_resizer"],
        env={**env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.monotonic() - started < 30:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/", body, headers)
                with urllib.request.urlopen(request, timeout=10) as response:
                    if response.status < 300:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.005)
        raise SystemExit("the resizer did not answer within 30 s")
    finally:
        process.terminate()
        process.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="zipbob-bench-cold-"))
    s3 = start_s3(log_dir=logs)
    try:
        client = boto3.client(
            "s3",
            endpoint_url=s3.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        env = {
            **os.environ,
            "ZIPBOB_PROFILE": "test",
            "ZIPBOB_S3__ENDPOINT_URL": s3.url,
            "ZIPBOB_S3__ACCESS_KEY_ID": "testing",
            "ZIPBOB_S3__SECRET_ACCESS_KEY": "testing",
            "ZIPBOB_RESULTS__DELIVERY": "reply",
            "ZIPBOB_EVENT_AUTH__SHARED_SECRET": SECRET,
            "ZIPBOB_LOGGING__LEVEL": "WARNING",
        }
        data = jpeg(1200, 800)
        figures = []
        for _ in range(args.runs):
            uploaded = upload_original(client, data)
            event = new_event(
                IMAGE_UPLOADED, CATALOG_SOURCE, uploaded, subject=uploaded["image_id"]
            )
            headers, body = to_http_binary(event)
            headers["X-ZipBob-Event-Token"] = SECRET
            figures.append(cold_start(env, headers, body))
        bare = [timed([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
        imports = [
            timed([sys.executable, "-c", "import zipbob_resizer.main"]) for _ in range(args.runs)
        ]
    finally:
        s3.stop()
    print(f"cold start, {args.runs} runs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'what':<40} {'median s':>9} {'max s':>7}")
    for name, values in (
        ("baseline: python -c pass", bare),
        ("baseline: import zipbob_resizer.main", imports),
        ("resizer: start to first event answered", figures),
    ):
        print(f"{name:<40} {statistics.median(values):>9.2f} {max(values):>7.2f}")
    verdict = "within" if statistics.median(figures) <= BUDGET_SECONDS else "OVER"
    print(f"budget {BUDGET_SECONDS} s: median {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
