"""Catalog business metrics (names fixed by docs/architecture.md)."""

from __future__ import annotations

from zipbob_platform.metrics import counter, gauge

products_registered_total = counter("zipbob_products_registered_total", "Products created")
images_uploaded_total = counter(
    "zipbob_images_uploaded_total", "Original images stored and announced"
)
outbox_pending = gauge("zipbob_outbox_pending", "Outbox events not yet published")
outbox_lag_seconds = gauge(
    "zipbob_outbox_lag_seconds", "Age of the oldest unpublished outbox event"
)
outbox_published_total = counter(
    "zipbob_outbox_published_total", "Outbox events delivered to the broker or sink"
)
outbox_publish_failures_total = counter(
    "zipbob_outbox_publish_failures_total", "Failed outbox publish attempts"
)
events_consumed_total = counter(
    "zipbob_events_consumed_total",
    "Result events consumed, by type and outcome (applied, duplicate, stale, invalid)",
    "type",
    "outcome",
)
list_pages_total = counter(
    "zipbob_catalog_list_pages_total",
    "List pages answered from this replica's page cache (hit), loaded (miss), or waiting "
    "on a load another request started (shared); refresh: a kept page's reload started in "
    "the background by a hit late in its life",
    "outcome",
)
