"""How big the sample data set is: one frozen value shared by every part of the generator.

Presets (``retail-pipeline sample --scale``), transactions with shops, products and customers
in proportion:

| scale | transactions | shops | products | customers |
|---|---|---|---|---|
| small | 20,000 | 8 | 80 | 800 |
| default | 120,000 | 24 | 240 | 3,000 |
| large | 1,000,000 | 60 | 800 | 30,000 |
| xlarge | 10,000,000 | 200 | 5,000 | 300,000 |

Above ``CHUNKED_ABOVE`` transactions the sample is generated and written in chunks
(``retail_pipeline.sample.chunked``), so xlarge never holds its lines in memory at once.
"""

from __future__ import annotations

from dataclasses import dataclass

CHUNKED_ABOVE = 2_000_000
"""More transactions than this: written chunk by chunk (``transactions-0001.csv``, ...)."""


@dataclass(frozen=True)
class SampleSize:
    shops: int = 24
    products: int = 240
    customers: int = 3_000
    transactions: int = 120_000
    start: str = "2023-01-01"
    years: int = 3

    @classmethod
    def small(cls) -> SampleSize:
        return cls(shops=8, products=80, customers=800, transactions=20_000)

    @classmethod
    def large(cls) -> SampleSize:
        return cls(shops=60, products=800, customers=30_000, transactions=1_000_000)

    @classmethod
    def xlarge(cls) -> SampleSize:
        return cls(shops=200, products=5_000, customers=300_000, transactions=10_000_000)

    @property
    def chunked(self) -> bool:
        """Whether ``retail-pipeline sample`` writes this size chunk by chunk."""
        return self.transactions > CHUNKED_ABOVE


SCALES = {"small": SampleSize.small, "default": SampleSize, "large": SampleSize.large,
          "xlarge": SampleSize.xlarge}
"""``--scale`` presets by name (see the module docstring)."""
