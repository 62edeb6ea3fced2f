"""Structural similarity (SSIM), 7x7 uniform window, as scikit-image computes it by default."""

from __future__ import annotations

import numpy as np
from PIL import Image

WINDOW = 7
C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def _window_mean(values: np.ndarray) -> np.ndarray:
    """Mean over every WINDOW x WINDOW patch, from a summed-area table."""
    table = np.pad(values, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)
    sums = (
        table[WINDOW:, WINDOW:]
        - table[:-WINDOW, WINDOW:]
        - table[WINDOW:, :-WINDOW]
        + table[:-WINDOW, :-WINDOW]
    )
    return sums / (WINDOW * WINDOW)


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = _window_mean(a), _window_mean(b)
    # Sample covariance, as scikit-image does with use_sample_covariance=True.
    correction = WINDOW * WINDOW / (WINDOW * WINDOW - 1)
    var_a = (_window_mean(a * a) - mu_a * mu_a) * correction
    var_b = (_window_mean(b * b) - mu_b * mu_b) * correction
    cov = (_window_mean(a * b) - mu_a * mu_b) * correction
    numerator = (2 * mu_a * mu_b + C1) * (2 * cov + C2)
    denominator = (mu_a * mu_a + mu_b * mu_b + C1) * (var_a + var_b + C2)
    return float((numerator / denominator).mean())


def ssim(first: Image.Image, second: Image.Image) -> float:
    """Mean SSIM over the RGB channels of two images of the same size."""
    if first.size != second.size:
        raise ValueError(f"sizes differ: {first.size} vs {second.size}")
    a = np.asarray(first.convert("RGB"), dtype=np.float64)
    b = np.asarray(second.convert("RGB"), dtype=np.float64)
    return sum(_ssim_channel(a[..., c], b[..., c]) for c in range(3)) / 3
