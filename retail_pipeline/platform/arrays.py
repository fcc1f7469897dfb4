"""Small numpy helpers shared by the domains' columnar code paths."""

from __future__ import annotations

import numpy as np


def runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal values starts and ends (exclusive) in sorted ``codes``."""
    if not len(codes):
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return starts, np.append(starts[1:], len(codes))
