"""Why an image can never be resized: these are permanent failures (HTTP 4xx, image.failed)."""

from __future__ import annotations


class ImageRejected(Exception):
    """A permanent failure; `reason` is a short stable code carried in image.failed."""

    reason = "invalid_image"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnsupportedImage(ImageRejected):
    reason = "unsupported_format"


class CorruptImage(ImageRejected):
    reason = "corrupt_image"


class TruncatedImage(ImageRejected):
    reason = "truncated_image"


class ImageTooLarge(ImageRejected):
    """Too many pixels (a decompression bomb, or just too big) or too many bytes."""

    reason = "image_too_large"
