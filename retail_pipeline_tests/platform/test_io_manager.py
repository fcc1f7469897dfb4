"""The Parquet IO manager: files streamed in place, declared columns only, fsspec URLs."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from retail_pipeline.defs.io_manager import ParquetIOManagerResource, input_columns
from retail_pipeline.platform.frames import read_parquet


def _wide() -> pd.DataFrame:
    return pd.DataFrame({
        "id": pd.array(["a", "b", None], dtype="str"),
        "count": pd.array([1, None, 3], dtype="Int64"),
        "value": [1.5, np.nan, 3.25],
        "when": pd.to_datetime(["2024-01-01 10:00:00.123456789", None, "2024-03-01"], format="ISO8601"),
        "flag": [True, False, True],
    })


def _graph(seen: dict):
    @dg.asset
    def wide() -> pd.DataFrame:
        return _wide()

    @dg.asset(ins={"wide": dg.AssetIn(metadata={"columns": ["value", "id"]})})
    def narrow(wide: pd.DataFrame) -> pd.DataFrame:
        seen["asset"] = wide
        return wide

    @dg.asset_check(asset=wide, op_tags=input_columns(wide=["when", "absent"]))
    def tagged(wide: pd.DataFrame) -> dg.AssetCheckResult:
        seen["check"] = wide
        return dg.AssetCheckResult(passed=True)

    @dg.asset_check(asset=wide)
    def whole(wide: pd.DataFrame) -> dg.AssetCheckResult:
        seen["whole"] = wide
        return dg.AssetCheckResult(passed=True)

    return [wide, narrow, tagged, whole]


@pytest.mark.parametrize("base", ["local", "memory://retail-io-test"])
def test_inputs_read_only_their_declared_columns_with_dtypes_intact(tmp_path, base):
    seen: dict = {}
    base_path = str(tmp_path / "io") if base == "local" else base
    graph = _graph(seen)
    resources = {"io_manager": ParquetIOManagerResource(base_path=base_path)}
    assert dg.materialize(graph[:2], resources=resources).success
    assert dg.materialize(graph, resources=resources,
                          selection=dg.AssetSelection.checks_for_assets("wide")).success
    pd.testing.assert_frame_equal(seen["asset"], _wide()[["value", "id"]])
    pd.testing.assert_frame_equal(seen["check"], _wide()[["when"]])
    pd.testing.assert_frame_equal(seen["whole"], _wide())


def test_local_files_are_written_in_place_without_leftovers(tmp_path):
    result = dg.materialize(_graph({})[:1], resources={
        "io_manager": ParquetIOManagerResource(base_path=str(tmp_path / "io"))})
    assert result.success
    stored = tmp_path / "io" / "wide.parquet"
    pd.testing.assert_frame_equal(read_parquet(str(stored)), _wide())
    assert [p.name for p in (tmp_path / "io").iterdir()] == ["wide.parquet"]  # no .tmp left behind
