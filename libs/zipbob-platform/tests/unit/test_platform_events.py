"""The event types are a contract with other services and Knative Triggers (SPEC 4):
spelled out here once more, so renaming a constant cannot silently change the wire."""

from __future__ import annotations

from zipbob_platform import events


def test_event_types_are_the_specs() -> None:
    assert events.IMAGE_UPLOADED == "com.zipbob.catalog.image.uploaded"
    assert events.PRODUCT_DELETED == "com.zipbob.catalog.product.deleted"
    assert events.IMAGE_RESIZED == "com.zipbob.resizer.image.resized"
    assert events.IMAGE_FAILED == "com.zipbob.resizer.image.failed"
    assert events.REVIEW_SUMMARY_CHANGED == "com.zipbob.review.summary.changed"
    assert len(events.ALL_TYPES) == 5
    assert (events.CATALOG_SOURCE, events.RESIZER_SOURCE, events.REVIEW_SOURCE) == (
        "/catalog",
        "/resizer",
        "/review",
    )


def test_config_and_manifests_name_only_known_event_types() -> None:
    """YAML cannot import the module: a typo there would route or filter nothing."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    files = [*(root / "config").glob("*.yaml"), *(root / "k8s").rglob("*.yaml")]
    named = {
        (path.name, match)
        for path in files
        for match in re.findall(r"com\.zipbob\.[a-z.]*[a-z]", path.read_text())
    }
    assert named, "no event types found: did the folders move?"
    assert {(name, t) for name, t in named if t not in events.ALL_TYPES} == set()
