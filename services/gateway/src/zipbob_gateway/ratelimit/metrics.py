from __future__ import annotations

from prometheus_client import Counter

from zipbob_platform.metrics import get_or_create

rate_limited_total = get_or_create(
    Counter, "zipbob_rate_limited_total", "Requests refused with 429, by limit", ("limit",)
)
