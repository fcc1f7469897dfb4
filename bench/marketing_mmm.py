"""Media-mix model benchmark on the shared Robyn and Meridian national files.

For each file: the last 10% of weeks held out; the model is fitted (search, validation and
bootstrap intervals) on the rest; out-of-sample R2 and MAPE of the outcome beside a
baseline without media (the same trend, season and controls, ridge-fitted); fit wall time
and peak traced memory; and whether a second fit with the same seed gives identical
numbers. Then the planted-truth recovery on the synthetic data of the tests.

    .venv/bin/python bench/marketing_mmm.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from retail_pipeline.marketing.mmm import (
    baseline_matrix,
    fit_mmm,
    holdout_split,
    predict,
    prepare,
    ridge_nonneg,
)
from retail_pipeline.marketing.settings import MMMSettings
from retail_pipeline.marketing.synthetic import synthetic_marketing
from retail_pipeline.marketing.wide import MERIDIAN_NATIONAL, ROBYN_WEEKLY, to_long

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "marketing"
FILES = {"robyn_dt_simulated_weekly.csv": ROBYN_WEEKLY,
         "meridian_national_all_channels.csv": MERIDIAN_NATIONAL}


def scores(y, yhat) -> tuple[float, float]:
    r2 = 1 - np.sum((y - yhat) ** 2) / np.sum((y - y.mean()) ** 2)
    mape = float(np.mean(np.abs((y - yhat) / y)))
    return float(r2), mape


def no_media_baseline(train, full, cut: int, yearly_order: int) -> np.ndarray:
    B_full, _ = baseline_matrix(full.dates, full.controls, full.row_days, yearly_order)
    B_train, _ = baseline_matrix(train.dates, train.controls, train.row_days, yearly_order)
    B_full[:, 1] = np.arange(len(full.dates)) / max(1, cut - 1)
    coef = ridge_nonneg(B_train.T @ B_train, B_train.T @ train.y, B_train.std(axis=0), cut,
                        -4.0, B_train.shape[1])
    ctrl = [j for j in range(B_full.shape[1]) if j >= B_full.shape[1] - full.controls.shape[1]]
    for j, c in zip(ctrl, full.controls.columns, strict=True):
        v = full.controls[c].to_numpy("float64")
        ref = v[:cut]
        B_full[:, j] = (v - ref.mean()) / ref.std() if ref.std() > 0 else 0.0
    return B_full @ coef


def run_file(name: str, spec, repeats: int, settings: MMMSettings) -> None:
    frame = pd.read_csv(SHARED / name, keep_default_na=False, na_values=[""])
    spend, outcomes = to_long(frame, spec, name)
    data = prepare(spend, outcomes.set_index("date")["revenue"],
                   outcomes.set_index("date").drop(columns="revenue"))
    train, full, cut = holdout_split(data, 0.1)
    times, peaks, results = [], [], []
    for _ in range(repeats):
        tracemalloc.start()
        t0 = time.perf_counter()
        model = fit_mmm(train, settings)
        roi = model.roi()  # includes the bootstrap intervals computed in the fit
        times.append(time.perf_counter() - t0)
        peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
        results.append((predict(model, full), roi))
    yhat, roi = results[0]
    identical = all(np.array_equal(yhat, r[0]) and roi.equals(r[1]) for r in results[1:])
    r2, mape = scores(full.y[cut:], yhat[cut:])
    base = no_media_baseline(train, full, cut, settings.yearly_order)
    b_r2, b_mape = scores(full.y[cut:], base[cut:])
    print(f"{name}: rows {len(full.y)} (holdout {len(full.y) - cut} weeks), channels "
          f"{len(data.channels)}, controls {data.controls.shape[1]}")
    print(f"{name}: holdout R2 {r2:.3f}, MAPE {mape:.2%}; without media R2 {b_r2:.3f}, "
          f"MAPE {b_mape:.2%}")
    print(f"{name}: fit incl. {settings.n_bootstrap} bootstrap refits: median "
          f"{statistics.median(times):.2f} s over {repeats} runs ({', '.join(f'{t:.2f}' for t in times)}), "
          f"peak traced memory {max(peaks):.1f} MiB, identical reruns: {identical}")
    print(f"{name}: ROI " + ", ".join(f"{r.channel} {r.roi:.2f} [{r.roi_lower:.2f}, {r.roi_upper:.2f}]"
                                      for r in roi.itertuples()))


def run_synthetic(settings: MMMSettings, seeds=(0, 1, 2)) -> None:
    for seed in seeds:
        syn = synthetic_marketing(seed, days=1095, noise=0.01)
        model = fit_mmm(prepare(syn.spend, syn.outcome), settings)
        errors = {r.channel: r.roi / syn.truth[r.channel]["roi"] - 1 for r in model.roi().itertuples()}
        print(f"synthetic seed {seed}: ROI relative error " + ", ".join(
            f"{c} {e:+.1%}" for c, e in errors.items()) + f"; max |error| {max(map(abs, errors.values())):.1%}")


def run_group(folder: Path, repeats: int) -> None:
    """The default sample (3 years, 120,000 transactions) uploaded; the upstream assets
    materialised once, then the whole ``marketing`` group (default config) timed alone."""
    import shutil
    import tempfile

    import dagster as dg
    import sqlalchemy as sa

    from retail_pipeline.definitions import defs
    from retail_pipeline.ingest.ingest import ingest_file
    from retail_pipeline.platform.layout import DataLayout
    from retail_pipeline.sample import generate
    from retail_pipeline_tests.pipeline import test_resources

    shutil.rmtree(folder, ignore_errors=True)
    layout = DataLayout(folder / "data").ensure()
    sample = generate()
    for name in ("transactions", "marketing_spend"):
        path = layout.incoming / f"{name}.csv"
        sample.tables()[name].to_csv(path, index=False)
        ingest_file(path, layout)
    url = f"sqlite:///{folder / 'warehouse.db'}"
    definitions = defs()
    assets = [*definitions.assets]
    group = dg.AssetSelection.groups("marketing")
    resources = test_resources(layout, url)
    instance = dg.DagsterInstance.ephemeral(tempdir=tempfile.mkdtemp())
    dg.materialize(assets, selection=group.upstream() - group - dg.AssetSelection.groups("uploads"),
                   resources=resources, instance=instance)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = dg.materialize(assets, selection=group, resources=resources, instance=instance)
        times.append(time.perf_counter() - t0)
        assert result.success
    print(f"sample marketing group: median {statistics.median(times):.1f} s over {repeats} runs "
          f"({', '.join(f'{t:.1f}' for t in times)}); charts in {layout.charts}")
    engine = sa.create_engine(url)
    roi = pd.read_sql_table("ml_roi_forecast", engine).drop_duplicates("channel", keep="last")
    truth = sample.truth["marketing"]["channels"]
    print("sample ROI (historical, fitted vs planted): " + ", ".join(
        f"{r.channel} {r.roi_historical:.2f} vs {truth[r.channel]['roi']:.2f}" for r in roi.itertuples()))
    budget = pd.read_sql_table("ml_budget_rec", engine).tail(len(roi))
    print("sample budget: " + ", ".join(f"{r.channel} {r.current_budget:,.0f} -> {r.recommended_budget:,.0f}"
                                        f"{' (' + r.bound_binding + ')' if r.bound_binding else ''}"
                                        for r in budget.itertuples()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["files", "synthetic", "group"], default=None)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/marketing_bench"))
    args = parser.parse_args()
    settings = MMMSettings()
    if args.only in (None, "files"):
        for name, spec in FILES.items():
            run_file(name, spec, args.repeats, settings)
    if args.only in (None, "synthetic"):
        run_synthetic(settings)
    if args.only in (None, "group"):
        run_group(args.folder, args.repeats)
    import resource

    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
