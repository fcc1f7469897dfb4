import json

import numpy as np
import pandas as pd
import typer
from typer.testing import CliRunner

from retail_pipeline.cli.models import register
from retail_pipeline.forecasting.naive import SeasonalNaive
from retail_pipeline.platform.registry import ModelRegistry


def test_models_list_delete_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path))
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """test app"""

    history = pd.DataFrame({"series_id": "a", "ds": pd.date_range("2024-01-01", periods=20),
                            "y": np.ones(20)})
    reg = ModelRegistry(tmp_path / "models")
    first = reg.save("total__seasonal_naive", SeasonalNaive().fit(history))
    second = reg.save("shop__seasonal_naive", SeasonalNaive().fit(history))
    runner = CliRunner()
    out = runner.invoke(app, ["models", "list"], env={"COLUMNS": "100"})
    assert out.exit_code == 0, out.output
    assert first.version in out.output and second.version in out.output  # never cut
    assert max(len(line) for line in out.output.splitlines()) <= 100
    wide = runner.invoke(app, ["models", "list", "--wide"], env={"COLUMNS": "250"})
    assert "model_type" in wide.output and "SeasonalNaive" in wide.output
    as_json = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert {r["version"] for r in as_json} == {first.version, second.version}
    out = runner.invoke(app, ["models", "delete", first.version])
    assert out.exit_code == 0 and f"deleted {first.version}" in out.output
    assert [r.version for r in reg.records()] == [second.version]
    assert runner.invoke(app, ["models", "delete", "missing"]).exit_code == 1
    out = runner.invoke(app, ["models", "clear", "--yes"])
    assert out.exit_code == 0 and "deleted 1 model" in out.output
    assert reg.list().empty
    assert "no models" in runner.invoke(app, ["models", "list"]).output
