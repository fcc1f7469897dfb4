"""The inventory knobs and their defaults; ``InventoryConfig`` in the UI is generated from them.

Supply defaults apply to every product whose products upload leaves the column out or
empty; a value in the upload always wins (see ``supply.supply_attributes``).
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_pipeline.platform.knobs import documented as _doc

ALLOCATIONS = ("pooled", "per_series")


@dataclass(frozen=True)
class InventorySettings:
    """Every knob of the inventory step."""

    unit_cost_share: float = _doc(0.6, "Default unit cost as a share of `standard_price` for "
                                       "products without a `unit_cost` column value.")
    lead_time_days: float = _doc(7.0, "Default mean supplier lead time in days.")
    lead_time_std_days: float = _doc(2.0, "Default standard deviation of the lead time in days.")
    order_cost: float = _doc(20.0, "Default fixed cost of placing one order (money per order).")
    holding_cost_rate: float = _doc(0.25, "Default yearly holding cost as a share of unit cost.")
    min_order_qty: float = _doc(1.0, "Default minimum order quantity in units.")
    pack_size: float = _doc(1.0, "Default pack size: orders are whole multiples of it.")
    service_a: float = _doc(0.98, "Cycle service level target of class A (top revenue).")
    service_b: float = _doc(0.95, "Cycle service level target of class B.")
    service_c: float = _doc(0.90, "Cycle service level target of class C (long tail).")
    abc_a_share: float = _doc(0.80, "Class A: products making up the first 80% of revenue.")
    abc_b_share: float = _doc(0.95, "Class B: products up to 95% of revenue; the rest is C.")
    xyz_x_cv: float = _doc(0.5, "Class X: coefficient of variation of weekly units below this.")
    xyz_y_cv: float = _doc(1.0, "Class Y: CV below this (above it: Z).")
    abc_window_days: int = _doc(365, "Days of sales history the ABC/XYZ classes are computed on.")
    review_period_days: int = _doc(7, "Days between order reviews; safety stock protects the "
                                      "lead time plus one review period.")
    recent_days: int = _doc(28, "Days of recent sales that give the mean demand of shop x "
                                "product pairs the forecast does not cover.")
    service_allocation: str = _doc(
        "pooled", "`pooled`: each class meets its service target on average over its shop x "
                  "product series at the least safety stock (series that are cheap to protect, "
                  "with a small demand sigma, get a higher service, costly ones a lower one, never "
                  "below `min_series_service`); `per_series`: every series at its class target.")
    min_series_service: float = _doc(0.5, "With pooled allocation, the lowest cycle service "
                                          "level any one series is given.")
    simulation_weeks: int = _doc(26, "Weeks of the newest history the policy simulation replays.")
    simulation_seed: int = _doc(13, "Seed of the random lead times drawn in the simulation.")
    simulation_max_pairs: int = _doc(
        50_000, "The policy simulation replays at most this many shop x product pairs: when "
                "more qualify, a seeded random sample of them (`simulation_seed`); per-class "
                "service levels and fill rates are then estimates, and the series, stock and "
                "cycle counts are those of the sample (the run's metadata shows "
                "`replayed_pairs` of `eligible_pairs`). 50,000 replays every pair of the "
                "1-million-transaction sample in about 30 s; 0: no limit.")
    simulation_lost_sales: bool = _doc(False, "In the simulation, demand the stock cannot meet "
                                              "is lost (true) or back-ordered and served from "
                                              "the next arrival (false: what the safety-stock "
                                              "formula assumes).")
    organisation: str = _doc("", "Organisation name of `dashboard_metrics` (empty: the data "
                                 "folder's name).")

    def __post_init__(self):
        for name in ("service_a", "service_b", "service_c"):
            if not 0.5 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0.5, 1)")
        if not 0 < self.abc_a_share < self.abc_b_share <= 1:
            raise ValueError("need 0 < abc_a_share < abc_b_share <= 1")
        if self.service_allocation not in ALLOCATIONS:
            raise ValueError(f"service_allocation must be one of {', '.join(ALLOCATIONS)}")
        if not 0.5 <= self.min_series_service < 1:
            raise ValueError("min_series_service must be in [0.5, 1)")
        if self.simulation_max_pairs < 0:
            raise ValueError("simulation_max_pairs must be 0 (no limit) or more")
        if self.review_period_days < 1 or self.simulation_weeks < 1:
            raise ValueError("review_period_days and simulation_weeks must be at least 1")

    def class_service(self) -> dict[str, float]:
        return {"A": self.service_a, "B": self.service_b, "C": self.service_c}
