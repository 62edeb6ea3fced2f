"""Every CloudEvents type and source the platform exchanges (SPEC 4), named once.

On RabbitMQ the type is also the routing key, so queues bind to these names.
"""

from __future__ import annotations

from typing import Final

IMAGE_UPLOADED: Final = "com.zipbob.catalog.image.uploaded"
PRODUCT_DELETED: Final = "com.zipbob.catalog.product.deleted"
IMAGE_RESIZED: Final = "com.zipbob.resizer.image.resized"
IMAGE_FAILED: Final = "com.zipbob.resizer.image.failed"
REVIEW_SUMMARY_CHANGED: Final = "com.zipbob.review.summary.changed"

ALL_TYPES: Final = frozenset(
    {IMAGE_UPLOADED, PRODUCT_DELETED, IMAGE_RESIZED, IMAGE_FAILED, REVIEW_SUMMARY_CHANGED}
)

CATALOG_SOURCE: Final = "/catalog"
RESIZER_SOURCE: Final = "/resizer"
REVIEW_SOURCE: Final = "/review"
