"""Small images for resizer tests, built in memory (no fixtures on disk)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from zipbob_resizer.imaging.synthetic import jpeg_bytes, photo_like, png_bytes

__all__ = ["encode", "jpeg_bytes", "photo_like", "png_bytes", "png_header_only"]


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height and whose pixel data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
