"""The marketing part of the sample: spend and delivery for five channels, and their effect
planted in the sample's own sales.

Daily spend, impressions, reach, clicks and conversions for search, social, display, email
and TV (``data.extra["marketing_spend"]``, the ``marketing_spend`` entity) come from
``retail_pipeline.marketing.synthetic``, scaled so that the total spend is
``SPEND_SHARE`` of the sales' average daily revenue. Each channel's revenue per day,
``coefficient * hill(adstock(spend, decay) * (1 - decay); half_saturation, shape)`` with
the planted ROI of ``synthetic.CHANNELS``, is added to that day's sales by scaling the
quantities of the day's transactions (stochastically rounded, so the number of
transactions and every other column stay as they were): ``daily_sales`` revenue carries
the marketing signal. The true parameters are in ``data.truth["marketing"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retail_pipeline.marketing.synthetic import CHANNELS, delivery, effects, spend_paths
from retail_pipeline.sample.sales import sample_days

if TYPE_CHECKING:
    from retail_pipeline.sample import SampleData
    from retail_pipeline.sample.size import SampleSize

SPEND_SHARE = 0.25  # total marketing spend per day / average daily sales revenue


def marketing_part(rng: np.random.Generator, size: SampleSize, data: SampleData) -> None:
    tx = data.transactions
    day = tx["transaction_date"].dt.normalize()
    days = sample_days(size)
    revenue = (tx["quantity"] * tx["actual_price"]).groupby(day).sum().reindex(days, fill_value=0.0)
    plan = MarketingPlan.draw(rng, revenue)
    quantity, planted = plan.scale(rng, tx)
    data.transactions = tx.assign(quantity=quantity)
    data.extra["marketing_spend"] = delivery(rng, plan.spend)
    data.truth["marketing"] = plan.truth(planted)


@dataclass(frozen=True)
class MarketingPlan:
    """Daily spend per channel, its revenue effect, and the factor each day's quantities get."""

    spend: pd.DataFrame
    effect: pd.DataFrame
    channels: dict
    factor: pd.Series  # by day

    @classmethod
    def draw(cls, rng: np.random.Generator, revenue: pd.Series) -> MarketingPlan:
        """``revenue``: the sales revenue of every day of the sample, before marketing."""
        spend = spend_paths(rng, revenue.index, SPEND_SHARE * float(revenue.mean()))
        effect, truth = effects(spend)
        lift = effect.sum(axis=1)
        # scale each day's quantities so its revenue grows by that day's effect
        factor = ((revenue + lift) / revenue.where(revenue > 0)).fillna(1.0)
        return cls(spend, effect, truth, factor)

    def scale(self, rng: np.random.Generator, tx: pd.DataFrame) -> tuple[np.ndarray, float]:
        """The lines' quantities scaled by their day's factor (stochastically rounded), and the
        revenue this adds."""
        day = tx["transaction_date"].dt.normalize()
        scaled = tx["quantity"].to_numpy("float64") * self.factor.reindex(day).to_numpy()
        whole = np.floor(scaled)
        quantity = (whole + (rng.random(len(tx)) < scaled - whole)).astype(tx["quantity"].dtype)
        return quantity, float(((quantity - tx["quantity"]) * tx["actual_price"]).sum())

    def truth(self, planted: float) -> dict:
        return {
            "channels": self.channels,
            "effect_revenue": {c: float(self.effect[c].sum()) for c in self.effect.columns},
            "planted_revenue": planted,
            "form": "effect[t] = coefficient * hill(geometric_adstock(spend, decay)[t] * (1 - decay); "
                    "half_saturation, shape)",
            "channel_settings": [c.__dict__ for c in CHANNELS],
        }
