"""How big the sample data set is: one frozen value shared by every part of the generator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SampleSize:
    shops: int = 24
    products: int = 240
    customers: int = 3_000
    transactions: int = 120_000
    start: str = "2023-01-01"
    years: int = 3

    @classmethod
    def large(cls) -> SampleSize:
        return cls(shops=60, products=800, customers=30_000, transactions=1_000_000)
