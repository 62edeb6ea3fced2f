"""Bring any decoded mode to 8-bit sRGB (or grey) without alpha, ready for JPEG."""

from __future__ import annotations

import io

from PIL import Image

WHITE = (255, 255, 255)
# Modes the resampler handles directly; the rest are converted before resizing.
OPAQUE_RESAMPLABLE = frozenset({"L", "RGB", "YCbCr", "CMYK"})


def opaque_resamplable(image: Image.Image) -> Image.Image:
    """Any decoded image as an opaque mode that resamples correctly: alpha flattened onto
    white, palettes expanded, bilevel and high-bit-depth grey brought to 8 bits."""
    mode = image.mode
    if mode in OPAQUE_RESAMPLABLE:
        return image
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode.startswith("I") or mode == "F":
        # 16-bit grey: keep the top 8 bits rather than clipping everything above 255 to white.
        image = image.point(lambda value: value / 256).convert("L")
    elif mode not in ("RGBA", "LA"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    if image.mode in ("RGBA", "LA"):
        image = _flatten_on_white(image)
    return image


def to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert to sRGB through the embedded profile; YCbCr and grey without one pass through."""
    needs_icc = icc_profile is not None and image.mode in ("RGB", "YCbCr", "CMYK")
    if needs_icc and (image.mode == "CMYK" or not _is_srgb(icc_profile)):
        converted = _convert_with_profile(image, icc_profile)
        if converted is not None:
            return converted
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


def _flatten_on_white(image: Image.Image) -> Image.Image:
    # Blending through the alpha mask: convert("RGB") alone would keep whatever colour
    # hides under fully transparent pixels.
    opaque_mode = "L" if image.mode == "LA" else "RGB"
    background = Image.new(opaque_mode, image.size, WHITE[0] if opaque_mode == "L" else WHITE)
    background.paste(image, (0, 0), image)
    return background


def _is_srgb(icc_profile: bytes | None) -> bool:
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile or b""))
        return "srgb" in ImageCms.getProfileDescription(profile).lower()
    except (ImageCms.PyCMSError, OSError):
        return True  # an unreadable profile is ignored: treat the pixels as sRGB


def _convert_with_profile(image: Image.Image, icc_profile: bytes | None) -> Image.Image | None:
    from PIL import ImageCms

    if image.mode == "YCbCr":
        image = image.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile or b""))
        return ImageCms.profileToProfile(
            image,
            source,
            ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
