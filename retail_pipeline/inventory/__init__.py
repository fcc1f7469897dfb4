"""Inventory: safety stock and reorder points from the forecast's own error, the purchase
plan and budget, and a replay of the policy against demand the forecast never saw.

- ``settings``: every knob with its documented default (``InventorySettings``).
- ``supply``: product supply attributes (unit cost, lead time, order cost, ...) parsed from
  the products' extra columns, and the stock-level checks and current positions.
- ``policy``: the formulas, ABC/XYZ classes, demand over the protection interval, the
  safety-stock and reorder report, purchase plan, budget and dashboard figures.
- ``simulation``: the policy replayed week by week against actual demand, next to the
  textbook shortcut.
- ``charts``: the seaborn pictures.

No Dagster import here: ``retail_pipeline/defs/inventory`` wires these to assets.
"""
