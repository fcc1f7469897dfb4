"""Marketing data with a known truth: spend, delivery and the revenue each channel adds.

Used by the sample generator (which adds the channel effects to the sample's own sales),
by the tests (which recover the planted parameters) and by the benchmark. Each channel's
effect per row is

    effect_c[t] = coefficient_c * hill(adstock(spend_c, decay_c)[t] * (1 - decay_c);
                                       half_saturation_c, shape_c)

(normalised geometric adstock: a constant spend ``x`` settles at ``x``), exactly the form
``mmm.MediaMixModel`` fits, so the true ROI of a channel is ``sum(effect) / sum(spend)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from retail_pipeline.marketing.transforms import geometric_adstock, hill


@dataclass(frozen=True)
class ChannelTruth:
    channel: str
    share: float  # share of the total spend
    decay: float
    half_saturation_rel: float  # half saturation as a multiple of the average spend per row
    shape: float
    roi: float  # planted ROI over the generated history
    cpm: float  # cost per thousand impressions
    frequency: float  # impressions per person reached
    ctr: float | None  # clicks per impression (None: an offline channel without clicks)
    conversion_rate: float | None  # conversions per click
    flighting: bool  # on/off bursts (TV-like) rather than always-on


CHANNELS: tuple[ChannelTruth, ...] = (
    ChannelTruth("search", 0.25, 0.10, 1.0, 1.2, 2.2, 12.0, 1.6, 0.035, 0.060, False),
    ChannelTruth("social", 0.20, 0.40, 0.9, 1.5, 1.6, 6.0, 2.5, 0.012, 0.030, False),
    ChannelTruth("display", 0.18, 0.30, 1.2, 1.3, 1.1, 3.0, 3.0, 0.004, 0.020, False),
    ChannelTruth("email", 0.12, 0.20, 0.8, 1.0, 2.8, 1.0, 1.1, 0.030, 0.080, False),
    ChannelTruth("tv", 0.25, 0.70, 1.1, 2.0, 1.3, 25.0, 4.0, None, None, True),
)


def spend_paths(rng: np.random.Generator, days: pd.DatetimeIndex, total_per_day: float,
                channels=CHANNELS) -> pd.DataFrame:
    """Daily spend per channel: campaign swings, daily noise and (TV) multi-week flights."""
    n = len(days)
    out = {}
    for ch in channels:
        # campaigns: a mean-reverting budget level that swings from a fifth to five times
        # its average over weeks (the spread that lets a model see the curve from near zero)
        shocks = rng.normal(0, 0.25, n)
        level = np.exp(lfilter([1.0], [1.0, -0.93], shocks))
        noise = rng.lognormal(0, 0.35, n)
        x = level * noise
        if ch.flighting:  # 2-6 week bursts, 1-4 week pauses
            on = np.zeros(n, dtype=bool)
            t = int(rng.integers(0, 14))
            while t < n:
                length = int(rng.integers(14, 43))
                on[t:t + length] = True
                t += length + int(rng.integers(7, 29))
            x = np.where(on, x, 0.0)
        x = x / x.mean() * ch.share * total_per_day
        out[ch.channel] = np.round(x, 2)
    return pd.DataFrame(out, index=days)


def effects(spend: pd.DataFrame, channels=CHANNELS) -> tuple[pd.DataFrame, dict]:
    """Each channel's revenue per row and the absolute true parameters."""
    out, truth = {}, {}
    for ch in channels:
        x = spend[ch.channel].to_numpy("float64")
        mean = x.mean()
        k = ch.half_saturation_rel * mean
        unit = hill(geometric_adstock(x, ch.decay) * (1 - ch.decay), k, ch.shape)
        coefficient = ch.roi * x.sum() / unit.sum()
        out[ch.channel] = coefficient * unit
        truth[ch.channel] = {"decay": ch.decay, "half_saturation": float(k), "shape": ch.shape,
                             "coefficient": float(coefficient), "roi": ch.roi,
                             "mean_spend": float(mean)}
    return pd.DataFrame(out, index=spend.index), truth


def delivery(rng: np.random.Generator, spend: pd.DataFrame, channels=CHANNELS) -> pd.DataFrame:
    """Long rows ``date, channel, spend, impressions, reach, clicks, conversions``."""
    frames = []
    for ch in channels:
        x = spend[ch.channel].to_numpy("float64")
        impressions = rng.poisson(x / ch.cpm * 1000 * rng.lognormal(0, 0.1, len(x)))
        reach = np.minimum(impressions, rng.poisson(impressions / ch.frequency))
        frame = pd.DataFrame({"date": spend.index, "channel": ch.channel, "spend": x,
                              "impressions": impressions.astype("int64"),
                              "reach": reach.astype("int64")})
        if ch.ctr is None:
            frame["clicks"] = pd.array([pd.NA] * len(x), dtype="Int64")
            frame["conversions"] = np.nan
        else:
            ctr = np.clip(ch.ctr * rng.lognormal(0, 0.15, len(x)), 0, 1)
            clicks = rng.binomial(impressions, ctr)
            cvr = np.clip(ch.conversion_rate * rng.lognormal(0, 0.15, len(x)), 0, 1)
            frame["clicks"] = pd.array(clicks, dtype="Int64")
            frame["conversions"] = rng.binomial(clicks, cvr).astype("float64")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values(["date", "channel"], ignore_index=True)


@dataclass
class SyntheticMarketing:
    spend: pd.DataFrame  # long: date, channel, spend, impressions, reach, clicks, conversions
    outcome: pd.Series  # revenue per day: baseline + channel effects + noise
    effects: pd.DataFrame  # revenue per day and channel
    truth: dict  # channel -> parameters (absolute units)


def synthetic_marketing(seed: int = 0, days: int = 730, start: str = "2023-01-01",
                        baseline_per_day: float = 10_000.0, spend_share: float = 0.3,
                        noise: float = 0.02, channels=CHANNELS) -> SyntheticMarketing:
    """A complete synthetic data set: a baseline with trend, weekly and yearly season."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    spend = spend_paths(rng, dates, spend_share * baseline_per_day, channels)
    eff, truth = effects(spend, channels)
    t = np.arange(days) / 365.25
    weekly = np.array([0.9, 0.92, 0.95, 1.0, 1.1, 1.25, 0.88])[dates.dayofweek]
    yearly = 1 + 0.15 * np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 350) / 365.25)
    # additive terms: exactly the baseline the model fits (trend, weekday, yearly Fourier)
    base = baseline_per_day * (weekly + yearly - 1 + 0.05 * t)
    y = base + eff.sum(axis=1).to_numpy() + rng.normal(0, noise * baseline_per_day, days)
    return SyntheticMarketing(delivery(rng, spend, channels), pd.Series(y, index=dates), eff,
                              truth)


def truth_table(channels=CHANNELS) -> list[dict]:
    return [asdict(c) for c in channels]
