"""Read the services' JSON log lines (one object per line) written under the data dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_logs(log_dir: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            entry.setdefault("_file", path.name)
            entries.append(entry)
    return entries


def hops_of_trace(entries: list[dict[str, Any]], trace_id: str) -> set[tuple[str, str, str]]:
    """(service, method, route) of every access-log line that belongs to ``trace_id``."""
    return {
        (e["service"], e.get("method", ""), e.get("route", ""))
        for e in entries
        if e.get("trace_id") == trace_id and e.get("logger") == "zipbob.access"
    }
