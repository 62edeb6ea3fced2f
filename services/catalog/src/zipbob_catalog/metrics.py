"""Catalog business metrics (names fixed by docs/architecture.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from zipbob_platform.metrics import get_or_create

products_registered_total = get_or_create(
    Counter, "zipbob_products_registered_total", "Products created"
)
images_uploaded_total = get_or_create(
    Counter, "zipbob_images_uploaded_total", "Original images stored and announced"
)
outbox_pending = get_or_create(Gauge, "zipbob_outbox_pending", "Outbox events not yet published")
outbox_lag_seconds = get_or_create(
    Gauge, "zipbob_outbox_lag_seconds", "Age of the oldest unpublished outbox event"
)
outbox_published_total = get_or_create(
    Counter, "zipbob_outbox_published_total", "Outbox events delivered to the broker or sink"
)
outbox_publish_failures_total = get_or_create(
    Counter, "zipbob_outbox_publish_failures_total", "Failed outbox publish attempts"
)
events_consumed_total = get_or_create(
    Counter,
    "zipbob_events_consumed_total",
    "Result events consumed, by type and outcome (applied, duplicate, stale, invalid)",
    ("type", "outcome"),
)
