"""The sales part of the sample: shops, products, customers and transactions.

The generator draws every table from one seeded ``numpy`` generator, vectorised, so the
same size and seed always give the same bytes and a million transactions take seconds.
Demand has the structure the forecasting models must find: a weekly cycle (weekends
busier), a yearly cycle (summer dip, December peak), holiday spikes (Black Friday,
Christmas week, Easter), slow growth, shop and product effects, and discounts and
premiums around each product's standard price.

Returns, cancellations and void lines are planted by ``plant_returns``, run as the last part
of the generator (after the parts that rewrite the sale lines' customers and quantities),
so that each return mirrors the sale as it finally is:

- ``RETURN_SHARE`` of the sale lines (4 %, drawn without replacement) come back as a
  separate line with its own ``transaction_id``: the same customer, product, shop, price and
  payment method, a quantity of ``-k`` (``k`` uniform in 1 .. the units sold), dated
  ``RETURN_DELAY_DAYS`` (2 to 42) days after the sale, with an empty ``line_type`` (a
  negative quantity is a return);
- ``CANCELLATION_SHARE`` of the other sale lines (0.4 %) are taken back whole
  (``line_type`` ``cancellation``, quantity ``-units sold``) 1 to 35 days later;
- ``VOID_SHARE`` (0.3 %) of sale lines get a ``void`` twin a few minutes later: an order
  scanned and voided before payment, kept for the record, counted nowhere.

A return or cancellation that would fall after the last day of the sample is not planted
(as in a real export cut off at a date). The counts actually planted, the return rate
(returned units / units sold, and by revenue) and each planted line's original sale are in
``data.truth["returns"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from retail_pipeline.sample.size import SampleSize

CITIES = {
    "Berlin": ["Mitte", "Kreuzberg", "Prenzlauer Berg", "Charlottenburg"],
    "Hamburg": ["Altona", "Eimsbuettel", "St. Pauli"],
    "Munich": ["Schwabing", "Maxvorstadt", "Sendling"],
    "Cologne": ["Ehrenfeld", "Nippes", "Suelz"],
    "Frankfurt": ["Sachsenhausen", "Bornheim"],
    "Leipzig": ["Plagwitz", "Gohlis"],
    "Dresden": ["Neustadt", "Blasewitz"],
    "Stuttgart": ["West", "Bad Cannstatt"],
}
# category -> (median standard price, seasonal amplitude of demand, peak month)
CATEGORIES = {
    "Groceries": (4.5, 0.05, 12),
    "Beverages": (3.0, 0.25, 7),
    "Electronics": (180.0, 0.35, 12),
    "Clothing": (40.0, 0.20, 11),
    "Home": (35.0, 0.10, 3),
    "Beauty": (15.0, 0.10, 12),
    "Toys": (25.0, 0.60, 12),
    "Sports": (55.0, 0.30, 6),
    "Garden": (30.0, 0.50, 5),
    "Books": (14.0, 0.15, 12),
}
BRANDS = ["Acme", "Nordwind", "Bluebird", "Kestrel", "Solano", "Mira", "Vetta", "Orion",
          "Tallis", "Fjord", "Luma", "Brio", "Cobalt", "Ember", "Halden", "Quill"]
FIRST_NAMES = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Ivan",
               "Jonas", "Karin", "Lena", "Max", "Nina", "Oskar", "Paula", "Rita", "Sami",
               "Tom", "Ute", "Vera", "Willi", "Yara", "Zoe"]
LAST_NAMES = ["Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner",
              "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann"]
PAYMENT_METHODS = (["card", "cash", "mobile", "voucher"], [0.52, 0.28, 0.17, 0.03])
WEEKDAY_FACTOR = np.array([0.85, 0.88, 0.92, 0.97, 1.12, 1.38, 0.88])  # Mon..Sun
RETURN_SHARE = 0.04  # sale lines returned (in part or whole) later
CANCELLATION_SHARE = 0.004  # sale lines cancelled whole later
VOID_SHARE = 0.003  # sale lines with a voided twin (counted nowhere)
RETURN_DELAY_DAYS = (2, 42)
CANCELLATION_DELAY_DAYS = (1, 35)


def _ids(prefix: str, n: int, width: int, first: int = 1) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(first, first + n)], dtype=object)


def make_shops(rng: np.random.Generator, n: int) -> pd.DataFrame:
    cities = np.array(list(CITIES))
    city = cities[rng.integers(0, len(cities), n)]
    city[: min(n, len(cities))] = cities[: min(n, len(cities))]  # every city has a shop
    district = np.array([CITIES[c][rng.integers(0, len(CITIES[c]))] for c in city])
    ids = _ids("S", n, 3)
    return pd.DataFrame({
        "shop_id": ids, "city": city, "district": district,
        "shop_name": [f"{c} {d} #{i[1:]}" for c, d, i in zip(city, district, ids, strict=True)],
    })


def make_products(rng: np.random.Generator, n: int) -> pd.DataFrame:
    names = np.array(list(CATEGORIES))
    category = names[np.arange(n) % len(names)]
    rng.shuffle(category)
    median = np.array([CATEGORIES[c][0] for c in category])
    price = np.round(median * rng.lognormal(0.0, 0.45, n), 2).clip(0.5)
    brand = np.array(BRANDS)[rng.integers(0, len(BRANDS), n)]
    ids = _ids("P", n, 5)
    return pd.DataFrame({
        "product_id": ids,
        "product_name": [f"{b} {c} {i[1:]}" for b, c, i in zip(brand, category, ids, strict=True)],
        "category": category,
        "brand": brand,
        "standard_price": price,
        "unit_cost": np.round(price * rng.uniform(0.45, 0.75, n), 2),
        "lead_time_days": rng.integers(2, 21, n),
    })


def make_customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    categories = np.array(list(CATEGORIES))
    first = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)]
    n_pref = rng.integers(1, 4, n)
    preferred = [";".join(rng.choice(categories, k, replace=False)) for k in n_pref]
    age = rng.normal(42, 14, n).round().clip(18, 90).astype(int)
    spending = np.round(rng.gamma(2.0, 80.0, n), 2)
    return pd.DataFrame({
        "customer_id": _ids("C", n, 6),
        "customer_name": np.char.add(np.char.add(first.astype(str), " "), last.astype(str)),
        "gender": rng.choice(["female", "male", "diverse"], n, p=[0.5, 0.47, 0.03]),
        "age": age,
        "city": np.array(list(CITIES))[rng.integers(0, len(CITIES), n)],
        "preferred_categories": preferred,
        "avg_monthly_spending": spending,
        "visits_per_month": np.round(rng.gamma(2.0, 1.5, n), 1),
        "income_bracket": rng.choice(["low", "middle", "high"], n, p=[0.3, 0.5, 0.2]),
    })


def _holiday_factor(days: pd.DatetimeIndex) -> np.ndarray:
    factor = np.ones(len(days))
    month, day = days.month.to_numpy(), days.day.to_numpy()
    factor[(month == 12) & (day >= 14) & (day <= 24)] *= 1.8  # Christmas shopping
    factor[(month == 12) & ((day == 25) | (day == 26))] *= 0.2  # shops closed
    factor[(month == 1) & (day == 1)] *= 0.2
    for year in np.unique(days.year):
        nov = pd.date_range(f"{year}-11-01", f"{year}-11-30")
        black_friday = nov[nov.dayofweek == 4][3]
        factor[(days >= black_friday) & (days <= black_friday + pd.Timedelta(days=3))] *= 2.2
        easter = _easter(int(year))
        factor[(days >= easter - pd.Timedelta(days=3)) & (days <= easter)] *= 1.4
    return factor


def _easter(year: int) -> pd.Timestamp:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    r = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * r) // 451
    month, day = divmod(h + r - 7 * m + 114, 31)
    return pd.Timestamp(year=year, month=month, day=day + 1)


def daily_intensity(days: pd.DatetimeIndex) -> np.ndarray:
    """Relative store traffic per day: weekly and yearly cycles, holidays, 6 %/year growth."""
    t = np.arange(len(days)) / 365.25
    yearly = 1 + 0.18 * np.cos(2 * np.pi * (days.dayofyear.to_numpy() - 350) / 365.25)
    return WEEKDAY_FACTOR[days.dayofweek.to_numpy()] * yearly * _holiday_factor(days) * 1.06**t


@dataclass(frozen=True)
class LineDraw:
    """What every batch of sale lines is drawn from: the days, and the shop and product
    weights (drawn once per sample, so every batch of a chunked sample shares them)."""

    days: pd.DatetimeIndex
    shops: pd.DataFrame
    products: pd.DataFrame
    customers: pd.DataFrame
    shop_p: np.ndarray
    product_p: np.ndarray

    @classmethod
    def setup(cls, rng: np.random.Generator, size: SampleSize, shops: pd.DataFrame,
              products: pd.DataFrame, customers: pd.DataFrame) -> tuple[LineDraw, np.ndarray]:
        """The shared weights and the number of sale lines of each day."""
        days = sample_days(size)
        per_day = rng.multinomial(size.transactions, daily_intensity(days) / daily_intensity(days).sum())
        shop_weight = rng.lognormal(0, 0.5, len(shops))
        product_weight = 1.0 / np.arange(1, len(products) + 1) ** 0.8  # long tail of sellers
        rng.shuffle(product_weight)
        return cls(days, shops, products, customers, shop_weight / shop_weight.sum(),
                   product_weight / product_weight.sum()), per_day

    def lines(self, rng: np.random.Generator, d: np.ndarray) -> pd.DataFrame:
        """Sale lines (no ``transaction_id`` yet) for the day numbers ``d``, one line each."""
        products, n = self.products, len(d)
        cat = products["category"].to_numpy()
        amplitude = np.array([CATEGORIES[c][1] for c in cat])
        peak = np.array([CATEGORIES[c][2] for c in cat])
        month_of_day = self.days.month.to_numpy()
        shop = rng.choice(len(self.shops), n, p=self.shop_p)
        # products: popularity times each category's seasonal swing in that month, by
        # rejection so that the joint draw stays vectorised
        product = rng.choice(len(products), n, p=self.product_p)
        swing = 1 + amplitude[product] * np.cos(2 * np.pi * (month_of_day[d] - peak[product]) / 12)
        redraw = rng.random(n) > swing / (1 + amplitude[product])
        product[redraw] = rng.choice(len(products), redraw.sum(), p=self.product_p)
        std_price = products["standard_price"].to_numpy()[product]
        kind = rng.random(n)
        deviation = np.where(kind < 0.68, 0.0,
                             np.where(kind < 0.95, -rng.uniform(0.05, 0.30, n), rng.uniform(0.0, 0.10, n)))
        customer = rng.integers(0, len(self.customers), n).astype(object)
        customer_ids = self.customers["customer_id"].to_numpy()[customer.astype(int)]
        walk_in = rng.random(n) < 0.04
        seconds = rng.integers(8 * 3600, 21 * 3600, n)
        return pd.DataFrame({
            "customer_id": np.where(walk_in, None, customer_ids),
            "product_id": products["product_id"].to_numpy()[product],
            "shop_id": self.shops["shop_id"].to_numpy()[shop],
            "quantity": 1 + rng.poisson(0.6, n),
            "actual_price": np.round(std_price * (1 + deviation), 2).clip(0.01),
            "transaction_date": self.days.to_numpy()[d] + seconds.astype("timedelta64[s]"),
            "payment_method": rng.choice(PAYMENT_METHODS[0], n, p=PAYMENT_METHODS[1]),
        })


def sample_days(size: SampleSize) -> pd.DatetimeIndex:
    """Every day of the sample's history."""
    return pd.date_range(size.start, periods=int(round(365.25 * size.years)), freq="D")


def make_transactions(
    rng: np.random.Generator,
    size: SampleSize,
    shops: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    progress: Callable[[int], None] | None = None,
    chunk: int = 200_000,
) -> pd.DataFrame:
    draw, per_day = LineDraw.setup(rng, size, shops, products, customers)
    day_index = np.repeat(np.arange(len(draw.days)), per_day)
    frames = []
    for start, stop in _chunks(len(day_index), chunk):
        frames.append(draw.lines(rng, day_index[start:stop]))
        if progress:
            progress(stop - start)
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "transaction_id", _ids("T", len(out), 8))
    return out


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def generate_sales(rng: np.random.Generator, size: SampleSize,
                   progress: Callable[[int], None] | None = None) -> dict[str, pd.DataFrame]:
    """Shops, products, customers and transactions: the part every other part builds on."""
    shops = make_shops(rng, size.shops)
    products = make_products(rng, size.products)
    customers = make_customers(rng, size.customers)
    transactions = make_transactions(rng, size, shops, products, customers, progress)
    return {"transactions": transactions, "customers": customers, "products": products,
            "shops": shops}


def _taken_back(rng: np.random.Generator, sales: pd.DataFrame, rows: np.ndarray, delay: tuple[int, int],
                end: pd.Timestamp, whole: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Lines taking back (part of) the sale lines ``rows``, ``delay`` days later; those that
    would fall after ``end`` are dropped. Returns the lines and the sale rows they belong to."""
    picked = sales.iloc[rows]
    days = rng.integers(delay[0], delay[1] + 1, len(rows))
    seconds = rng.integers(8 * 3600, 21 * 3600, len(rows))
    dates = (picked["transaction_date"].dt.normalize().to_numpy() + days.astype("timedelta64[D]")
             + seconds.astype("timedelta64[s]"))
    sold = picked["quantity"].to_numpy("int64")
    units = sold if whole else 1 + np.floor(rng.random(len(rows)) * sold).astype("int64")
    inside = dates < end
    lines = picked.assign(quantity=-units, transaction_date=dates)
    return lines[inside], rows[inside]


def plant_returns(rng: np.random.Generator, size: SampleSize, data) -> None:
    """Returns, cancellations and void lines after the sales (see the module docstring)."""
    sales = data.transactions.reset_index(drop=True)
    n = len(sales)
    end = pd.Timestamp(size.start) + pd.Timedelta(days=int(round(365.25 * size.years)))
    order = rng.permutation(n)
    n_return, n_cancel, n_void = (int(round(share * n)) for share in
                                  (RETURN_SHARE, CANCELLATION_SHARE, VOID_SHARE))
    returns, returned_rows = _taken_back(rng, sales, np.sort(order[:n_return]), RETURN_DELAY_DAYS,
                                         end, whole=False)
    cancels, cancelled_rows = _taken_back(rng, sales, np.sort(order[n_return:n_return + n_cancel]),
                                          CANCELLATION_DELAY_DAYS, end, whole=True)
    void_rows = np.sort(rng.choice(n, n_void, replace=False)) if n else np.array([], dtype=int)
    voids = sales.iloc[void_rows]
    voids = voids.assign(transaction_date=voids["transaction_date"]
                         + pd.to_timedelta(rng.integers(1, 10, len(voids)), unit="min"))
    inside = (voids["transaction_date"] < end).to_numpy()
    voids, void_rows = voids[inside], void_rows[inside]
    added = pd.concat([returns.assign(line_type=None), cancels.assign(line_type="cancellation"),
                       voids.assign(line_type="void")], ignore_index=True)
    added["transaction_id"] = _ids("T", n + len(added), 8)[n:]
    data.transactions = pd.concat([sales.assign(line_type=None), added], ignore_index=True)
    sold_units = sales["quantity"].to_numpy("float64")
    sold_revenue = sold_units * sales["actual_price"].to_numpy("float64")

    def revenue(lines: pd.DataFrame) -> float:
        return float(-(lines["quantity"] * lines["actual_price"]).sum())

    returned_units = float(-returns["quantity"].sum())
    cancelled_units = float(-cancels["quantity"].sum())
    origin = np.concatenate([returned_rows, cancelled_rows, void_rows])
    data.truth["returns"] = {
        "sale_lines": n,
        "sold_units": float(sold_units.sum()),
        "sold_revenue": float(sold_revenue.sum()),
        "return_lines": len(returns),
        "returned_units": returned_units,
        "returned_revenue": revenue(returns),
        "cancellation_lines": len(cancels),
        "cancelled_units": cancelled_units,
        "cancelled_revenue": revenue(cancels),
        "void_lines": len(voids),
        "void_units": float(voids["quantity"].sum()),
        "return_rate": (returned_units + cancelled_units) / float(sold_units.sum()) if n else float("nan"),
        "return_rate_revenue": ((revenue(returns) + revenue(cancels)) / float(sold_revenue.sum())
                                if n else float("nan")),
        "lines": pd.DataFrame({"transaction_id": added["transaction_id"].to_numpy(),
                               "line_type": ["return"] * len(returns) + ["cancellation"] * len(cancels)
                               + ["void"] * len(voids),
                               "sale_transaction_id": sales["transaction_id"].to_numpy()[origin]}),
    }
