"""Chart styling and writing shared by every domain's seaborn charts.

Matplotlib's non-interactive Agg backend is forced so charts render in worker processes
and on servers without a display. ``save_figure`` writes a PNG atomically (temp file,
then rename) so the UI never shows a half-written picture.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from retail_pipeline.platform import atomic  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")

DPI = 110


def save_figure(fig: plt.Figure, path: Path | str, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` as PNG without ever leaving a half-written file."""
    path = Path(path)
    try:
        with atomic.replacing(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
