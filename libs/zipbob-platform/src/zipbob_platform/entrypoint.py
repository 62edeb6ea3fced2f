"""Container entry point: run the service named by ZIPBOB_SERVICE (set by the Dockerfile).

One image recipe serves every service, so the entry point cannot name the module itself.
"""

from __future__ import annotations

import os
import runpy
import sys

SERVICES = frozenset({"gateway", "catalog", "review", "resizer", "web"})


def main() -> None:
    service = os.environ.get("ZIPBOB_SERVICE", "")
    if service not in SERVICES:
        sys.exit(f"ZIPBOB_SERVICE must be one of {sorted(SERVICES)}, not {service!r}")
    runpy.run_module(f"zipbob_{service}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
