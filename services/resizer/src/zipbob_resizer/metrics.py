"""Resizer business metrics (names fixed by docs/architecture.md; dashboards rely on them)."""

from __future__ import annotations

from zipbob_platform.metrics import counter, histogram

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

IMAGES = counter("zipbob_images_resized_total", "Images handled, by outcome", "outcome")
STAGE_SECONDS = histogram(
    "zipbob_resize_stage_seconds", "Seconds per resize stage", "stage", buckets=STAGE_BUCKETS
)
BYTES = counter("zipbob_resize_bytes_total", "Image bytes read and written", "direction")
OBJECTS_DELETED = counter(
    "zipbob_resize_objects_deleted_total",
    "Original and variant objects deleted for deleted products",
)
