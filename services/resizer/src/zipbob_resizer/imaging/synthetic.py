"""Photo-like test images made from nothing but Pillow, for tests and the benchmark.

Smooth gradients give the low frequencies of a photo, shapes give edges, gaussian noise
gives sensor grain and fine texture, so JPEG sizes and decode costs resemble real shots.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter

EXIF_ORIENTATION_TAG = 0x0112


def photo_like(width: int, height: int, *, seed: int = 7, noise_sigma: float = 14.0) -> Image.Image:
    """An RGB image with gradients, edges and grain, deterministic for a given seed."""
    rng = random.Random(seed)
    small = (max(1, width // 8), max(1, height // 8))
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(small).rotate(rng.uniform(0, 360)).resize(small),
            Image.radial_gradient("L").resize(small),
            Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(small),
        ),
    )
    draw = ImageDraw.Draw(base)
    for _ in range(60):
        x, y = rng.randrange(small[0]), rng.randrange(small[1])
        r = rng.randrange(2, max(3, min(small) // 4))
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.line((x, y, x + r * 2, y + r), fill=colour, width=max(1, r // 6))
    image = base.filter(ImageFilter.GaussianBlur(1.2)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    # Texture whose strength falls with its scale, as in natural images: foliage-like
    # blotches, fabric-like weave, fine detail, and a little sensor grain.
    octaves = ((24, 60.0, 0.3), (8, 60.0, 0.2), (3, 50.0, 0.12), (1, noise_sigma, 0.04))
    for divisor, sigma, weight in octaves:
        size = (max(1, width // divisor), max(1, height // divisor))
        layers = [Image.effect_noise(size, sigma) for _ in range(3)]
        texture = Image.merge("RGB", layers).resize((width, height), Image.Resampling.BILINEAR)
        image = Image.blend(image, texture, weight)
    return image


def jpeg_bytes(
    image: Image.Image,
    *,
    quality: int = 90,
    orientation: int | None = None,
    icc_profile: bytes | None = None,
) -> bytes:
    """Encode as JPEG, optionally tagging an EXIF orientation or embedding an ICC profile."""
    extra: dict[str, object] = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION_TAG] = orientation
        extra["exif"] = exif.tobytes()
    if icc_profile is not None:
        extra["icc_profile"] = icc_profile
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, **extra)
    return out.getvalue()


def rgba_with_hidden_colour(width: int, height: int, *, seed: int = 11) -> Image.Image:
    """RGBA photo whose fully transparent areas hide saturated magenta in the colour channels."""
    rgb = photo_like(width, height, seed=seed)
    alpha = (
        Image.radial_gradient("L").resize((width, height)).point(lambda v: 0 if v > 200 else 255)
    )
    rgba = rgb.convert("RGBA")
    magenta = Image.new("RGBA", (width, height), (255, 0, 255, 0))
    rgba.putalpha(alpha)
    return Image.composite(rgba, magenta, alpha)


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
