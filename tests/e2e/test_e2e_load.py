"""A short, bounded load run in the dev profile: every mix completes with zero errors and
every photo ends ready. Figures are printed, never asserted (benchmarks measure speed:
`bench/bench_platform.py`, results in docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from .client import ApiClient
from .dev_stack import start_dev_stack
from .mixes import browse_scenario, register_scenario, review_scenario, seed
from .photos import photo_jpeg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from loadgen import run_load

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Eight customers at 100 req/s each cap the mixes at 800 req/s, less than a fast machine
# serves: the per-user limit (tested in the gateway's own tests) is raised here so that a
# 429 means what it says, not that this machine outran its users' quota.
LOAD_ENV = {
    "ZIPBOB_LOGGING__LEVEL": "WARNING",
    "ZIPBOB_RATE_LIMITS__CLIENTS__RATE_PER_SECOND": "2000",
    "ZIPBOB_RATE_LIMITS__CLIENTS__BURST": "4000",
}


def test_three_mixes_run_without_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    stack = start_dev_stack(tmp_path, extra_env=LOAD_ENV, proxied=False)
    try:
        api = ApiClient(stack.urls["gateway"])
        sellers, customers, ids = seed(api, products=30)
        gateway = stack.urls["gateway"]
        ready: list[float] = []
        pending: list[tuple[str, float]] = []

        async def mixes():  # type: ignore[no-untyped-def]
            browse = await run_load("browse", gateway, browse_scenario(customers, ids),
                                    workers=16, seconds=4)  # fmt: skip
            reviews = await run_load("review", gateway, review_scenario(customers, ids),
                                     workers=4, seconds=3)  # fmt: skip
            photo = photo_jpeg(4000, 3000)
            registrations = await run_load(
                "register with photos", gateway,
                register_scenario(sellers, photo, ready, pending), workers=2, seconds=4,
            )  # fmt: skip
            return browse, reviews, registrations

        reports = asyncio.run(mixes())
        api.close()
    finally:
        stack.stop()
    with capsys.disabled():
        for report in reports:
            report.print()
        print(f"12 MP registration → ready: n={len(ready)}, max {max(ready, default=0):.2f}s")
    assert [r.errors for r in reports] == [0, 0, 0]
    assert all(r.total > 0 for r in reports)
    assert ready and not pending
