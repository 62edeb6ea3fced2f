"""Photo-like test images made on the spot (no downloads): gradients, noise and edges."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFilter


def photo_jpeg(width: int = 2400, height: int = 1600, *, quality: int = 90) -> bytes:
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40).filter(ImageFilter.GaussianBlur(1))
    image = Image.merge(
        "RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    )
    draw = ImageDraw.Draw(image)
    for i in range(0, width, max(width // 12, 1)):
        draw.rectangle((i, height // 3, i + width // 30, height // 3 * 2), fill=(250, 240, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
