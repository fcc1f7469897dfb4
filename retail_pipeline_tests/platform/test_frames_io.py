"""Asset outputs as Parquet: pandas 3 dtypes survive the IO manager, other objects are refused."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from retail_pipeline.defs.io_manager import ParquetIOManagerResource
from retail_pipeline.platform.frames import from_parquet_bytes, to_parquet_bytes


def _typed() -> pd.DataFrame:
    return pd.DataFrame({
        "text": pd.array(["a", None, "c"], dtype="str"),
        "count": pd.array([1, None, 3], dtype="Int64"),
        "value": [1.5, np.nan, 3.25],
        "when": pd.to_datetime(["2024-01-01 10:00:00.123456789", None, "2024-03-01 00:00:00"],
                               format="ISO8601"),
        "flag": [True, False, True],
        "cat": pd.Categorical(["x", "y", "x"]),
    })


def test_round_trip_keeps_dtypes_and_values():
    frame = _typed()
    back = from_parquet_bytes(to_parquet_bytes(frame))
    assert back.dtypes.astype(str).to_dict() == frame.dtypes.astype(str).to_dict()
    assert str(back["when"].dtype) == "datetime64[ns]"  # not the [us] pyarrow reads by default
    pd.testing.assert_frame_equal(back, frame)


def test_only_data_frames_are_stored():
    with pytest.raises(TypeError, match="only DataFrames"):
        to_parquet_bytes({"model": object()})


def test_assets_hand_frames_through_parquet_files(tmp_path):
    @dg.asset
    def upstream() -> pd.DataFrame:
        return _typed()

    @dg.asset
    def downstream(upstream: pd.DataFrame) -> pd.DataFrame:
        pd.testing.assert_frame_equal(upstream, _typed())
        return upstream.assign(value=upstream["value"] * 2)

    result = dg.materialize([upstream, downstream], resources={
        "io_manager": ParquetIOManagerResource(base_path=str(tmp_path / "io"))})
    assert result.success
    assert (tmp_path / "io" / "upstream.parquet").exists()
    stored = from_parquet_bytes((tmp_path / "io" / "downstream.parquet").read_bytes())
    assert stored["value"].tolist()[0] == 3.0
    assert not list((tmp_path / "io").glob(".*.tmp"))


def test_an_input_with_columns_metadata_loads_only_those_columns(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": pd.Series(["x", None], dtype="str"),
                          "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    assert from_parquet_bytes(to_parquet_bytes(frame), ["when", "b", "absent"]).equals(frame[["when", "b"]])

    @dg.asset
    def wide() -> pd.DataFrame:
        return frame

    @dg.asset(ins={"wide": dg.AssetIn(metadata={"columns": ["b"]})})
    def narrow(wide: pd.DataFrame) -> pd.DataFrame:
        return wide

    result = dg.materialize([wide, narrow], resources={
        "io_manager": ParquetIOManagerResource(base_path=str(tmp_path / "io"))})
    assert result.success
    pd.testing.assert_frame_equal(result.output_for_node("narrow"), frame[["b"]])
