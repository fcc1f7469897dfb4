"""The customer-personas part of the sample: five kinds of customer that segmentation must find.

Every customer is given one of ``PERSONAS`` (in fixed proportions, shuffled). The part then

- rewrites the customer's demographic columns to fit the persona: ``age`` (normal around
  the persona's age), ``city`` (the persona's home city with its probability, else any),
  ``preferred_categories`` (two or three of the persona's favourite categories),
  ``visits_per_month`` and ``avg_monthly_spending`` (persona level times noise);
- reassigns the existing sale lines that have a customer (walk-ins stay walk-ins): a line
  of category ``c`` goes to persona ``p`` with probability proportional to
  ``customers(p) * visit_rate(p) * affinity(p, c)`` (affinity 1 for the persona's
  categories, ``BASE_AFFINITY`` otherwise), then to one of that persona's customers with
  a gamma-distributed personal weight; its quantity is redrawn as ``1 + Poisson(basket - 1)``.

Dates, shops, products and prices are untouched, so the daily demand structure of the sales
part is kept. The persona of each customer goes to ``data.truth["personas"]`` only, never
into the customers table (the contract knows nothing of personas); ``retail-pipeline sample``
writes it to the side file ``<out>/.truth/customer_personas.csv``, which ingestion never reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retail_pipeline.sample.sales import CITIES

if TYPE_CHECKING:
    from retail_pipeline.sample import SampleData
    from retail_pipeline.sample.size import SampleSize

BASE_AFFINITY = 0.08
# name: share of customers, (age mean, sd), (home city, probability), relative visit rate,
# mean units per line, favourite categories, stated monthly spending level
PERSONAS: dict[str, dict] = {
    "students": dict(share=0.22, age=(22, 2.5), city=("Berlin", 0.8), rate=2.2, basket=1.1,
                     categories=("Beverages", "Books", "Groceries"), spending=60.0),
    "families": dict(share=0.24, age=(38, 3.5), city=("Hamburg", 0.8), rate=1.4, basket=3.5,
                     categories=("Groceries", "Toys", "Clothing"), spending=320.0),
    "affluent": dict(share=0.16, age=(49, 4.0), city=("Munich", 0.8), rate=0.7, basket=1.6,
                     categories=("Electronics", "Sports"), spending=650.0),
    "retirees": dict(share=0.18, age=(71, 4.0), city=("Dresden", 0.8), rate=1.8, basket=1.4,
                     categories=("Garden", "Home", "Books"), spending=180.0),
    "occasional": dict(share=0.20, age=(30, 3.0), city=("Cologne", 0.8), rate=0.25, basket=1.0,
                       categories=("Beauty", "Clothing"), spending=90.0),
}


def persona_counts(n: int) -> dict[str, int]:
    """Customers per persona: the shares rounded, the rest to the largest persona."""
    counts = {name: int(np.floor(p["share"] * n)) for name, p in PERSONAS.items()}
    largest = max(PERSONAS, key=lambda name: PERSONAS[name]["share"])
    counts[largest] += n - sum(counts.values())
    return counts


def persona_customers(rng: np.random.Generator, customers: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The customers rewritten to fit their persona, and each customer's persona number."""
    n = len(customers)
    names = list(PERSONAS)
    persona = np.repeat(np.arange(len(names)), [persona_counts(n)[p] for p in names])
    rng.shuffle(persona)
    cities = np.array(list(CITIES))
    age = np.empty(n)
    city = np.empty(n, dtype=object)
    preferred = np.empty(n, dtype=object)
    visits = np.empty(n)
    spending = np.empty(n)
    for i, name in enumerate(names):
        spec = PERSONAS[name]
        members = np.flatnonzero(persona == i)
        m = len(members)
        age[members] = rng.normal(*spec["age"], m)
        home = rng.random(m) < spec["city"][1]
        city[members] = np.where(home, spec["city"][0], cities[rng.integers(0, len(cities), m)])
        cats = np.array(spec["categories"])
        preferred[members] = [";".join(rng.choice(cats, rng.integers(2, len(cats) + 1),
                                                  replace=False)) for _ in range(m)]
        visits[members] = spec["rate"] * 4.0 * rng.lognormal(0, 0.25, m)
        spending[members] = spec["spending"] * rng.lognormal(0, 0.25, m)
    customers = customers.copy()
    customers["age"] = age.round().clip(18, 95).astype(int)
    customers["city"] = city
    customers["preferred_categories"] = preferred
    customers["visits_per_month"] = visits.round(1)
    customers["avg_monthly_spending"] = spending.round(2)
    return customers, persona


def persona_truth(customers: pd.DataFrame, persona: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": customers["customer_id"].to_numpy(),
                         "persona": np.array(list(PERSONAS))[persona]})


def personal_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Each customer's weight among the customers of the same persona."""
    return rng.gamma(4.0, 0.25, n)


def plant_personas(rng: np.random.Generator, size: SampleSize, data: SampleData) -> None:
    if len(data.customers) == 0:
        return
    customers, persona = persona_customers(rng, data.customers)
    data.customers = customers
    data.transactions = reassign(rng, data.transactions, data.products, customers, persona)
    data.truth["personas"] = persona_truth(customers, persona)


def reassign(rng: np.random.Generator, transactions: pd.DataFrame, products: pd.DataFrame,
             customers: pd.DataFrame, persona: np.ndarray, personal: np.ndarray | None = None) -> pd.DataFrame:
    """The lines with a customer given to a customer of a persona that fits their category
    (see the module docstring). ``personal``: the customers' weights when drawn once for many
    batches of lines (the chunked sample); by default drawn here."""
    names = list(PERSONAS)
    known = transactions["customer_id"].notna().to_numpy()
    lines = np.flatnonzero(known)
    category = transactions["product_id"].map(
        products.set_index("product_id")["category"]).to_numpy()[lines]
    all_categories = sorted(set(products["category"]))
    counts = np.bincount(persona, minlength=len(names))
    weight = np.array([[counts[i] * PERSONAS[p]["rate"] * (1.0 if c in PERSONAS[p]["categories"]
                                                           else BASE_AFFINITY)
                        for c in all_categories] for i, p in enumerate(names)])
    prob = weight / weight.sum(axis=0, keepdims=True)  # P(persona | category)
    cat_index = np.searchsorted(all_categories, category)
    cumulative = prob.cumsum(axis=0)[:, cat_index]  # persona x line
    chosen = (rng.random(len(lines)) > cumulative).sum(axis=0).clip(max=len(names) - 1)
    ids = customers["customer_id"].to_numpy()
    if personal is None:
        personal = personal_weights(rng, len(ids))
    new_customer = np.empty(len(lines), dtype=object)
    quantity = transactions["quantity"].to_numpy().copy()
    for i, name in enumerate(names):
        rows = np.flatnonzero(chosen == i)
        members = np.flatnonzero(persona == i)
        if not len(rows):
            continue
        if not len(members):  # a persona with no customer (tiny samples): keep the lines
            new_customer[rows] = transactions["customer_id"].to_numpy()[lines[rows]]
            continue
        w = personal[members] / personal[members].sum()
        new_customer[rows] = ids[rng.choice(members, len(rows), p=w)]
        quantity[lines[rows]] = 1 + rng.poisson(PERSONAS[name]["basket"] - 1.0, len(rows))
    out = transactions.copy()
    customer_column = out["customer_id"].to_numpy(dtype=object).copy()
    customer_column[lines] = new_customer
    out["customer_id"] = customer_column
    out["quantity"] = quantity.astype(transactions["quantity"].dtype)
    return out
