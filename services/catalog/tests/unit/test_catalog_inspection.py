"""Type sniffing and header-only dimension checks (no server needed)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from zipbob_catalog.products.money import check_price_for_currency, format_price, parse_price
from zipbob_catalog.uploads.inspection import inspect_image, sniff_content_type
from zipbob_platform.problems import Problem


def _file(tmp_path: Path, data: bytes) -> tuple[Path, int]:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return path, len(data)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")],
)
def test_accepted_formats_are_recognised_from_their_bytes(
    tmp_path: Path, images, fmt: str, content_type: str
) -> None:
    path, size = _file(tmp_path, getattr(images, fmt)(120, 80))
    header = inspect_image(path, size=size, max_pixels=50_000_000)
    assert (header.content_type, header.width, header.height, header.bytes) == (
        content_type,
        120,
        80,
        size,
    )


@pytest.mark.parametrize(
    "data",
    [b"GIF89a" + b"\0" * 20, b"<html>not an image</html>", b"%PDF-1.7\n", b"RIFF\0\0\0\0WAVE"],
)
def test_other_types_are_unsupported_media(tmp_path: Path, data: bytes) -> None:
    path, size = _file(tmp_path, data)
    with pytest.raises(Problem) as refused:
        inspect_image(path, size=size, max_pixels=50_000_000)
    assert refused.value.status == 415


def test_a_real_gif_is_refused_even_though_pillow_reads_it(tmp_path: Path, images) -> None:
    path, size = _file(tmp_path, images.gif())
    with pytest.raises(Problem) as refused:
        inspect_image(path, size=size, max_pixels=50_000_000)
    assert refused.value.status == 415


def test_too_many_pixels_is_read_from_the_header_alone(tmp_path: Path, images) -> None:
    data = images.png_claiming(10_000, 6_000)  # 60 MP announced in a 60-byte file
    path, size = _file(tmp_path, data)
    with pytest.raises(Problem) as refused:
        inspect_image(path, size=size, max_pixels=50_000_000)
    assert refused.value.status == 422
    assert "pixels" in refused.value.detail


def test_decompression_bomb_sized_header_is_refused_not_crashed(tmp_path: Path, images) -> None:
    path, size = _file(tmp_path, images.png_claiming(30_000, 30_000))  # 900 MP
    with pytest.raises(Problem) as refused:
        inspect_image(path, size=size, max_pixels=50_000_000)
    assert refused.value.status == 422


def test_magic_bytes_with_a_broken_header_are_unprocessable(tmp_path: Path) -> None:
    path, size = _file(tmp_path, b"\xff\xd8\xff\xe0" + b"\0" * 40)
    with pytest.raises(Problem) as refused:
        inspect_image(path, size=size, max_pixels=50_000_000)
    assert refused.value.status == 422


def test_empty_file_is_unprocessable(tmp_path: Path) -> None:
    path, size = _file(tmp_path, b"")
    with pytest.raises(Problem) as refused:
        inspect_image(path, size=size, max_pixels=50_000_000)
    assert refused.value.status == 422


def test_sniffing_ignores_anything_but_the_bytes() -> None:
    assert sniff_content_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_content_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_content_type(b"\xff\xd8") is None


@pytest.mark.parametrize("raw", ["1e3", "NaN", "Infinity", "-1", "abc", "", "1000000000000"])
def test_bad_prices_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_price(raw)


def test_prices_keep_exact_decimals_and_respect_minor_units() -> None:
    price = parse_price("19.99")
    assert price == Decimal("19.99")
    assert format_price(price, "EUR") == "19.99"
    assert format_price(Decimal("5"), "JPY") == "5"
    assert format_price(Decimal("1.5"), "KWD") == "1.500"
    check_price_for_currency(Decimal("1.250"), "BHD")
    with pytest.raises(ValueError):
        check_price_for_currency(Decimal("1.5"), "JPY")
    with pytest.raises(ValueError):
        check_price_for_currency(Decimal("1.999"), "USD")
