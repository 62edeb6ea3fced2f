"""Business metrics of the review service (names in docs/architecture.md)."""

from zipbob_platform.metrics import counter

cache_hits_total = counter("zipbob_review_cache_hits_total", "Reads answered from Redis", "cache")
cache_misses_total = counter(
    "zipbob_review_cache_misses_total",
    "Reads that went to MongoDB (not cached, Redis down or cache disabled)",
    "cache",
)
reviews_written_total = counter(
    "zipbob_reviews_written_total", "Review writes that succeeded", "op"
)
catalog_lookups_total = counter(
    "zipbob_catalog_lookups_total",
    "Product existence checks against the catalog, by outcome",
    "outcome",
)
events_consumed_total = counter(
    "zipbob_review_events_consumed_total",
    "product.deleted events handled, by transport and outcome",
    "transport",
    "outcome",
)
