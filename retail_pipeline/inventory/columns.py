"""The input columns each inventory computation reads.

Kept apart from ``policy`` (which imports scipy) so that the asset definitions can declare
them (``defs.io_manager.reads``) without loading the computation modules:
the IO manager then reads only these columns of ``daily_sales`` (11 columns, some 10
million rows at the largest sample) and of ``forecast_backtest``.
"""

PANEL_SALES_COLUMNS = ["date", "shop_id", "product_id", "quantity"]
"""``daily_sales`` columns of the daily units per shop x product (``policy.SalesPanel``):
demand over the lead time and the policy replay."""

CLASS_SALES_COLUMNS = ["date", "product_id", "quantity", "revenue"]
"""``daily_sales`` columns of the ABC/XYZ classes (``policy.abc_classes``)."""

BACKTEST_COLUMNS = ["level", "series_id", "model", "fold", "h", "y", "yhat"]
"""``forecast_backtest`` columns of the champion's error sigma (``policy.backtest_sigma``)."""
