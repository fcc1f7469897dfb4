"""The sample at scale: the same statistical design as ``generate``, chunk by chunk, in bounded memory.

``generate`` holds every transaction in memory (a million lines is about 1 GB of pandas
objects); ``ChunkedSample`` never holds more than one chunk of sale lines. The days of the
history are cut into chunks of whole days of at most ``chunk_lines`` sale lines (a day with
more lines than that is a chunk of its own), and each chunk is drawn from a generator of its
own (``part_rng(seed, "transactions/<k>")``), so the result depends on the seed and the chunk
size only (deterministic; not bit-identical to ``generate`` for the same seed, whose lines
come from one generator). What is shared by all chunks is drawn once, from the same
generators as in ``generate``: shops, products and customers, the number of sale lines of
every day, the shop and product weights, the customers' personas and personal weights, the
marketing spend, the supply attributes.

Every part of the in-memory generator is applied, in the same order:

- ``customers``: the customers are rewritten to fit their persona once; each chunk's lines
  are reassigned to personas and customers (and their quantities redrawn) with the chunk's
  generator, using the same personal weights for every chunk;
- ``marketing`` needs the revenue of every day before it can draw the spend (its level is a
  share of the average daily revenue), so the sale lines are drawn twice: a first pass sums
  each day's revenue (and drops the lines), then the spend and effects are drawn, and the
  second pass draws every chunk again (same generator, same lines) and scales its
  quantities by its days' factors;
- ``inventory``: units per shop x product over the last 90 and 28 days are summed chunk by
  chunk; the stock snapshots are drawn once at the end;
- ``returns``: planted per chunk with the same shares and delays (4 % returns, 0.4 %
  cancellations, 0.3 % voids of the chunk's sale lines). A return may be dated in a later
  chunk's days; it is written with its own chunk. ``truth["returns"]`` has the same sums as
  ``generate`` but not the per-line ``lines`` table (a million rows at 10M transactions).

Transaction ids: the sale lines are numbered ``T00000001`` .. ``T<n>`` in date order over
all chunks, the return, cancellation and void lines after them, chunk by chunk, so ids are
unique across the chunk files (8 digits: up to 99,999,999 lines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retail_pipeline.marketing.synthetic import delivery
from retail_pipeline.sample.customers import (
    persona_customers,
    persona_truth,
    personal_weights,
    reassign,
)
from retail_pipeline.sample.inventory import recent_units, stock_levels, supply_columns
from retail_pipeline.sample.marketing import MarketingPlan
from retail_pipeline.sample.sales import (
    CANCELLATION_DELAY_DAYS,
    CANCELLATION_SHARE,
    RETURN_DELAY_DAYS,
    RETURN_SHARE,
    VOID_SHARE,
    LineDraw,
    _ids,
    _taken_back,
    make_customers,
    make_products,
    make_shops,
)
from retail_pipeline.sample.size import SampleSize

CHUNK_LINES = 1_000_000
"""Default sale lines per chunk: a file of about 110 MB, far below ``RETAIL_MAX_UPLOAD_MB``."""
ID_WIDTH = 8


def day_chunks(per_day: np.ndarray, chunk_lines: int) -> list[tuple[int, int]]:
    """Runs ``[first, stop)`` of whole days with at most ``chunk_lines`` lines each (a day
    with more lines than that alone); days without lines belong to the run they fall in."""
    if chunk_lines < 1:
        raise ValueError(f"chunk_lines must be at least 1, got {chunk_lines}")
    runs, first, lines = [], 0, 0
    for day, n in enumerate(per_day.tolist()):
        if lines and lines + n > chunk_lines:
            runs.append((first, day))
            first, lines = day, 0
        lines += n
    runs.append((first, len(per_day)))
    return runs


@dataclass
class ReturnTotals:
    """The sums ``generate`` puts in ``truth["returns"]``, added up chunk by chunk."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("sale_lines", "sold_units", "sold_revenue", "return_lines", "returned_units", "returned_revenue",
         "cancellation_lines", "cancelled_units", "cancelled_revenue", "void_lines", "void_units"), 0.0))

    def add(self, **values: float) -> None:
        for key, value in values.items():
            self.sums[key] += value

    def truth(self) -> dict:
        s = dict(self.sums)
        for key in ("sale_lines", "return_lines", "cancellation_lines", "void_lines"):
            s[key] = int(s[key])
        taken = s["returned_units"] + s["cancelled_units"]
        s["return_rate"] = taken / s["sold_units"] if s["sold_units"] else float("nan")
        s["return_rate_revenue"] = ((s["returned_revenue"] + s["cancelled_revenue"]) / s["sold_revenue"]
                                    if s["sold_revenue"] else float("nan"))
        return s


def returns_for_chunk(rng: np.random.Generator, sales: pd.DataFrame, end: pd.Timestamp,
                      totals: ReturnTotals) -> pd.DataFrame:
    """Return, cancellation and void lines for one chunk's sale lines (``plant_returns``'s
    design), without ``transaction_id``; their sums are added to ``totals``."""
    n = len(sales)
    order = rng.permutation(n)
    n_return, n_cancel, n_void = (int(round(share * n)) for share in
                                  (RETURN_SHARE, CANCELLATION_SHARE, VOID_SHARE))
    returns, _ = _taken_back(rng, sales, np.sort(order[:n_return]), RETURN_DELAY_DAYS, end, whole=False)
    cancels, _ = _taken_back(rng, sales, np.sort(order[n_return:n_return + n_cancel]),
                             CANCELLATION_DELAY_DAYS, end, whole=True)
    void_rows = np.sort(rng.choice(n, n_void, replace=False)) if n else np.array([], dtype=int)
    voids = sales.iloc[void_rows]
    voids = voids.assign(transaction_date=voids["transaction_date"]
                         + pd.to_timedelta(rng.integers(1, 10, len(voids)), unit="min"))
    voids = voids[(voids["transaction_date"] < end).to_numpy()]

    def revenue(lines: pd.DataFrame) -> float:
        return float(-(lines["quantity"] * lines["actual_price"]).sum())

    sold = sales["quantity"].to_numpy("float64")
    totals.add(sale_lines=n, sold_units=float(sold.sum()),
               sold_revenue=float((sold * sales["actual_price"].to_numpy("float64")).sum()),
               return_lines=len(returns), returned_units=float(-returns["quantity"].sum()),
               returned_revenue=revenue(returns), cancellation_lines=len(cancels),
               cancelled_units=float(-cancels["quantity"].sum()), cancelled_revenue=revenue(cancels),
               void_lines=len(voids), void_units=float(voids["quantity"].sum()))
    return pd.concat([returns.assign(line_type=None), cancels.assign(line_type="cancellation"),
                      voids.assign(line_type="void")], ignore_index=True)


class ChunkedSample:
    """The sample as small tables plus transactions chunk by chunk (see the module docstring).

    ``tables()`` (shops, products, customers, marketing_spend) is ready at once;
    ``transactions()`` yields the chunks in order (each ends up as one file); ``stock_levels``
    and ``truth["returns"]`` / ``truth["understocked_pairs"]`` are set once it is exhausted.
    """

    def __init__(self, size: SampleSize, seed: int = 42, chunk_lines: int = CHUNK_LINES,
                 progress: Callable[[int], None] | None = None):
        from retail_pipeline.sample import part_rng  # the package imports this module

        self.size, self.seed, self.progress = size, seed, progress
        self._rng = lambda name: part_rng(seed, name)
        rng = np.random.default_rng(seed)
        shops = make_shops(rng, size.shops)
        products = make_products(rng, size.products)
        customers = make_customers(rng, size.customers)
        self.draw, self.per_day = LineDraw.setup(rng, size, shops, products, customers)
        self.runs = day_chunks(self.per_day, chunk_lines)
        self.sale_lines = int(self.per_day.sum())
        self.end = self.draw.days[-1] + pd.Timedelta(days=1)
        most = self.sale_lines * (1 + RETURN_SHARE + CANCELLATION_SHARE + VOID_SHARE) + len(self.runs)
        if most >= 10**ID_WIDTH:
            raise ValueError(f"up to {most:,.0f} transaction lines do not fit {ID_WIDTH}-digit ids")
        self.truth: dict[str, object] = {}
        persona_rng = self._rng("customers")
        self.persona = None
        if len(customers):
            customers, self.persona = persona_customers(persona_rng, customers)
            self.personal = personal_weights(persona_rng, len(customers))
            self.truth["personas"] = persona_truth(customers, self.persona)
        self.shops, self.customers, self.products_before = shops, customers, products
        marketing_rng = self._rng("marketing")
        self.marketing = MarketingPlan.draw(marketing_rng, self._daily_revenue())
        self.marketing_spend = delivery(marketing_rng, self.marketing.spend)
        self._inventory_rng = self._rng("inventory")
        self.products = supply_columns(self._inventory_rng, products)
        self.stock_levels: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The uploadable tables other than transactions (stock_levels once the chunks are done)."""
        out = {"customers": self.customers, "products": self.products, "shops": self.shops,
               "marketing_spend": self.marketing_spend}
        if self.stock_levels is not None:
            out["stock_levels"] = self.stock_levels
        return out

    def _sale_lines(self, k: int) -> tuple[np.random.Generator, pd.DataFrame]:
        """Chunk ``k``'s sale lines after the personas, and its generator to go on with."""
        first, stop = self.runs[k]
        rng = self._rng(f"transactions/{k}")
        d = np.repeat(np.arange(first, stop), self.per_day[first:stop])
        lines = self.draw.lines(rng, d)
        if self.persona is not None:
            lines = reassign(rng, lines, self.products_before, self.customers, self.persona, self.personal)
        return rng, lines

    def _daily_revenue(self) -> pd.Series:
        """First pass: every day's revenue before marketing (the lines are dropped)."""
        parts = []
        for k in range(len(self.runs)):
            _, lines = self._sale_lines(k)
            day = lines["transaction_date"].dt.normalize()
            parts.append((lines["quantity"] * lines["actual_price"]).groupby(day).sum())
            if self.progress:
                self.progress(len(lines))
        revenue = pd.concat(parts) if parts else pd.Series(dtype="float64")
        return revenue.groupby(level=0).sum().reindex(self.draw.days, fill_value=0.0)

    def transactions(self) -> Iterator[pd.DataFrame]:
        """Second pass: the final transaction lines, one frame per chunk, in order."""
        keys = ["shop_id", "product_id"]
        last = self.draw.days[int(np.flatnonzero(self.per_day).max())] if self.sale_lines else self.draw.days[-1]
        units90, units28 = pd.Series(dtype="float64"), pd.Series(dtype="float64")
        totals, planted, next_id = ReturnTotals(), 0.0, self.sale_lines + 1
        first_id = 1
        for k in range(len(self.runs)):
            rng, lines = self._sale_lines(k)
            quantity, added_revenue = self.marketing.scale(rng, lines)
            lines = lines.assign(quantity=quantity)
            planted += added_revenue
            u90, u28 = recent_units(lines, lines["transaction_date"].dt.normalize(), last)
            units90 = units90.add(u90, fill_value=0) if len(units90) else u90
            units28 = units28.add(u28, fill_value=0) if len(units28) else u28
            lines.insert(0, "transaction_id", _ids("T", len(lines), ID_WIDTH, first_id))
            first_id += len(lines)
            added = returns_for_chunk(rng, lines, self.end, totals)
            added["transaction_id"] = _ids("T", len(added), ID_WIDTH, next_id)
            next_id += len(added)
            if self.progress:
                self.progress(len(lines))
            yield pd.concat([lines.assign(line_type=None), added], ignore_index=True)
        units90 = units90.rename_axis(keys).rename("quantity")
        units28 = units28.rename_axis(keys).rename("quantity")
        self.stock_levels, self.truth["understocked_pairs"] = stock_levels(
            self._inventory_rng, self.products_before, units90, units28, last)
        self.truth["marketing"] = self.marketing.truth(planted)
        self.truth["returns"] = totals.truth()
