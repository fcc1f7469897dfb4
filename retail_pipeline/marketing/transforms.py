"""Carry-over (adstock) and saturation (Hill) transforms of a channel's spend.

- Geometric adstock: ``a[t] = x[t] + decay * a[t-1]`` (Robyn's "geometric", Meridian's
  and PyMC-Marketing's un-normalised geometric carry-over). A constant spend ``x``
  settles at ``x / (1 - decay)``: that factor is the channel's *steady-state gain*.
- Weibull adstock (optional): ``a[t] = sum_l w[l] x[t-l]`` with ``w`` the Weibull
  probability density over lags ``0..max_lag`` (shape, scale in lag units), normalised to
  sum to one; unlike the geometric decay it can peak after a delay (shape > 1).
- Hill saturation: ``h(z) = z^s / (z^s + k^s)``, zero at zero, one half at the
  half-saturation point ``k``, approaching one; ``s > 1`` makes it S-shaped.

All functions take and return ``numpy`` arrays and are exact (no sampling).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def geometric_adstock(x, decay: float) -> np.ndarray:
    """``a[t] = x[t] + decay * a[t-1]`` with ``a[-1] = 0``; ``decay`` in [0, 1)."""
    if not 0 <= decay < 1:
        raise ValueError(f"geometric decay must lie in [0, 1), got {decay}")
    x = np.asarray(x, dtype="float64")
    return lfilter([1.0], [1.0, -decay], x, axis=-1)


def weibull_weights(shape: float, scale: float, max_lag: int) -> np.ndarray:
    """Normalised Weibull-density weights for lags ``0..max_lag`` (lag ``l`` at ``l + 0.5``)."""
    if shape <= 0 or scale <= 0 or max_lag < 0:
        raise ValueError("Weibull shape and scale must be positive and max_lag non-negative")
    lags = np.arange(max_lag + 1) + 0.5
    z = lags / scale
    density = (shape / scale) * z ** (shape - 1) * np.exp(-(z ** shape))
    return density / density.sum()


def weibull_adstock(x, shape: float, scale: float, max_lag: int = 12) -> np.ndarray:
    """``a[t] = sum_l w[l] x[t-l]`` with Weibull-density weights (see module docstring)."""
    x = np.asarray(x, dtype="float64")
    weights = weibull_weights(shape, scale, max_lag)
    return lfilter(weights, [1.0], x, axis=-1)


def steady_state_gain(decay: float) -> float:
    """What a constant spend of 1 per period settles at under geometric adstock."""
    return 1.0 / (1.0 - decay)


def hill(z, half_saturation: float, shape: float) -> np.ndarray:
    """``z^s / (z^s + k^s)`` for ``z >= 0`` (see module docstring)."""
    if half_saturation <= 0 or shape <= 0:
        raise ValueError("Hill half-saturation and shape must be positive")
    z = np.clip(np.asarray(z, dtype="float64"), 0.0, None)
    # z^s / (z^s + k^s) = 1 / (1 + (k/z)^s), written to stay finite at z = 0
    with np.errstate(divide="ignore"):
        ratio = np.where(z > 0, (half_saturation / np.where(z > 0, z, 1.0)) ** shape, np.inf)
    return 1.0 / (1.0 + ratio)


def hill_derivative(z, half_saturation: float, shape: float) -> np.ndarray:
    """``d h / d z`` of ``hill``: ``s k^s z^(s-1) / (z^s + k^s)^2``."""
    z = np.clip(np.asarray(z, dtype="float64"), 0.0, None)
    k, s = half_saturation, shape
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = z ** s
        d = s * k ** s * z ** (s - 1) / (zs + k ** s) ** 2
    if s < 1:
        d = np.where(z > 0, d, np.inf)
    elif s == 1:
        d = np.where(z > 0, d, 1.0 / k)
    else:
        d = np.where(z > 0, d, 0.0)
    return d
