"""The deterministic sample data set: the same size and seed always give the same bytes.

The generator is built from parts, one per domain. ``sales`` (shops, products, customers,
transactions) comes first; every later part (customer personas, stock levels, marketing
spend, ...) is a function ``part(rng, size, data)`` listed in ``PARTS`` that adds its own
tables to ``data.tables`` (uploadable files, named like the contract entity they feed) or
``data.truth`` (planted parameters for tests, never uploaded). The last part, ``returns``,
appends return, cancellation and void lines to the transactions (``line_type`` column) and
records what it planted in ``data.truth["returns"]``. Each part draws from its own
generator, seeded from the seed and the part's name, so adding a part never changes the
tables of the parts before it.

Everything here is held in memory (about 1 GB at a million transactions). Larger samples
(``--scale xlarge``, 10 million) are drawn chunk by chunk with the same design by
``retail_pipeline.sample.chunked.ChunkedSample``, which applies the same parts per chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retail_pipeline.sample.customers import plant_personas
from retail_pipeline.sample.inventory import add_inventory
from retail_pipeline.sample.marketing import marketing_part
from retail_pipeline.sample.sales import generate_sales, plant_returns
from retail_pipeline.sample.size import SampleSize

Part = Callable[[np.random.Generator, SampleSize, "SampleData"], None]

# Domain parts run in this order after the sales part; each domain appends its own.
# ``returns`` stays last: it mirrors the sale lines as the parts before it left them
# (customers, quantities), and the parts before it see sale lines only.
PARTS: dict[str, Part] = {"customers": plant_personas, "marketing": marketing_part,
                          "inventory": add_inventory, "returns": plant_returns}


@dataclass
class SampleData:
    transactions: pd.DataFrame
    customers: pd.DataFrame
    products: pd.DataFrame
    shops: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Further uploadable tables added by domain parts, by file name (without ``.csv``)."""
    truth: dict[str, object] = field(default_factory=dict)
    """Planted truth for tests (personas, response curves): written beside, never uploaded."""

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every uploadable table, by the file name it is written under."""
        return {"transactions": self.transactions, "customers": self.customers,
                "products": self.products, "shops": self.shops, **self.extra}


def part_rng(seed: int, name: str) -> np.random.Generator:
    """A generator of its own for each part: stable under adding or reordering parts."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def generate(size: SampleSize | None = None, seed: int = 42,
             progress: Callable[[int], None] | None = None) -> SampleData:
    """Every table of the sample, the same for the same ``size`` and ``seed``."""
    size = size or SampleSize()
    core = generate_sales(np.random.default_rng(seed), size, progress)
    data = SampleData(**core)
    for name, part in PARTS.items():
        part(part_rng(seed, name), size, data)
    return data


__all__ = ["PARTS", "SampleData", "SampleSize", "generate", "part_rng"]
