"""Instructions per request of the catalog's hot reads, counted by callgrind.

``.venv/bin/python bench/catalog_instructions.py [--backend mariadb] [--rows 1000000]``
(needs Debian's ``valgrind``, whose package carries its headers, and gcc; the seeded bench
database of ``bench/bench_catalog_scale.py``)

CPU time per request (``bench/catalog_cpu.py``) moved by a factor of two between runs on a
VM that charges a process for going idle while its database works. Instructions do not:
each line runs in its own process under ``valgrind --tool=callgrind`` with instrumentation
off until its warm-up is done (switched on and off by a client request, through a small C
shim built here with the valgrind headers), so the count is the catalog's user-space work
for ``--requests`` requests and nothing else: the same within 1 % from run to run. The
database server, the kernel's side of each send and receive, and whatever the hypervisor
charges are not in it.

Beside each count: the bare Starlette yardstick's multiple, and an estimate in ms at the
rate this machine runs the catalog's own code, measured natively in the same run on the
list page with the database's answers replayed (no wait in it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog_seed
from bench_catalog_scale import settings_for
from catalog_cpu import Replay, Work, bare_starlette, call, cpu_ms, get

from zipbob_catalog.main import create_app

SHIM = """
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS; }
"""

# (name, app: "bare" | "off" (cache off) | "expired", path, query, database replayed)
LINES: list[tuple[str, str, str, str, bool]] = [
    ("baseline: bare Starlette, constant", "bare", "/api/products/{id}", "", False),
    ("GET /api/products/{id}", "off", "/api/products/{id}", "", False),
    ("  same, database replayed", "off", "/api/products/{id}", "", True),
    ("GET /api/products, cache off (counts)", "off", "/api/products", "", False),
    ("GET /api/products, page expired", "expired", "/api/products", "", False),
    ("  same, database replayed", "expired", "/api/products", "", True),
    ("GET /api/products?category=, expired", "expired", "/api/products", "category=category-07",
     False),
]  # fmt: skip
REPLAYED_LIST = 5  # the line whose native CPU time sets the rate


def build_shim(folder: Path) -> Path:
    source, library = folder / "cgtoggle.c", folder / "libcgtoggle.so"
    source.write_text(SHIM)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True)
    return library


@contextlib.asynccontextmanager
async def line_work(args: argparse.Namespace, line: int) -> AsyncIterator[Work]:
    """One request of ``LINES[line]``, on the catalog apps it needs (started, and stopped
    on exit), the database replayed when the line says so."""
    _, kind, path, query, replay = LINES[line]
    url = await catalog_seed.database_url(args.backend, args.rows)
    off, expired = create_app(settings_for(url)), create_app(settings_for(url, list_seconds=1e-6))
    async with off.router.lifespan_context(off), expired.router.lifespan_context(expired):
        _, body = await call(off, "/api/products", "size=1")
        product_id = json.loads(body)["items"][0]["id"]
        target = {"bare": bare_starlette(), "off": off, "expired": expired}[kind]
        Replay.install()
        Replay.on = replay
        yield get(target, path.replace("{id}", product_id), query)


async def child(args: argparse.Namespace) -> None:
    """One line under callgrind: warm up, count ``--requests`` requests, dump."""
    shim = ctypes.CDLL(args.shim)
    async with line_work(args, args.line) as work:
        for _ in range(30):
            await work(0)
        shim.cg_start()
        for _ in range(args.requests):
            await work(0)
        shim.cg_stop()


async def native_replayed_ms(args: argparse.Namespace) -> float:
    """CPU ms of the replayed list page, natively (least of five rounds)."""
    async with line_work(args, REPLAYED_LIST) as work:
        return await cpu_ms(work, 500, 5)


def count(args: argparse.Namespace, shim: Path, line: int, out: Path) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--child",
        str(line),
        "--shim",
        str(shim),
        "--backend",
        args.backend,
        "--rows",
        str(args.rows),
        "--requests",
        str(args.requests),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="mariadb")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--shim", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        args.line = args.child
        asyncio.run(child(args))
        return
    missing = [tool for tool in ("valgrind", "gcc") if shutil.which(tool) is None]
    if missing or not Path("/usr/include/valgrind/callgrind.h").exists():
        raise SystemExit("needs valgrind (with its headers) and gcc: apt-get install valgrind gcc")
    url = asyncio.run(catalog_seed.database_url(args.backend, args.rows))
    if asyncio.run(catalog_seed.seeded_rows(url)) != args.rows:
        raise SystemExit(f"seed {args.rows} rows first: bench/bench_catalog_scale.py --rows ...")
    with tempfile.TemporaryDirectory() as folder:
        shim = build_shim(Path(folder))
        print(
            f"{args.backend}, {args.rows:,} products; instructions per request (callgrind, "
            f"user space of the catalog's process), {args.requests} requests a line"
        )
        started = time.monotonic()
        counts = [
            count(args, shim, line, Path(folder) / f"line{line}.out") // args.requests
            for line in range(len(LINES))
        ]
        native = asyncio.run(native_replayed_ms(args))
        rate = counts[REPLAYED_LIST] / native  # instructions per ms of CPU, natively
        for (name, *_), per in zip(LINES, counts, strict=True):
            print(
                f"  {name:<40} {per / 1e6:6.2f} M  x{per / counts[0]:5.1f}  ~{per / rate:.3f} ms",
                flush=True,
            )
        print(
            f"  (ms at {rate / 1e6:.2f} M instructions per ms: the replayed list page's rate "
            f"natively, {native:.3f} ms; target 0.8 ms; {time.monotonic() - started:.0f} s; "
            f"pid {os.getpid()})"
        )


if __name__ == "__main__":
    main()
