"""Freshness of the consolidated tables: has each entity received an upload lately?

Shops export at least daily, so by default a table whose last accepted upload is more than
26 hours old raises a warning (not an error: the tables are still right, only old). Set
``RETAIL_MAX_UPLOAD_AGE_HOURS`` for other export rhythms.
"""

import dagster as dg
import pandas as pd

from retail_pipeline.contract import ENTITIES
from retail_pipeline.contract.quality import last_upload_per_entity
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest.ledger import Ledger
from retail_pipeline.platform import settings

DEFAULT_MAX_AGE_HOURS = 26.0


def max_age_hours() -> float:
    return settings.max_upload_age_hours()


def upload_freshness_check(entity: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=f"raw_{entity}",
        name="upload_freshness",
        description=f"The last accepted {entity} upload is at most RETAIL_MAX_UPLOAD_AGE_HOURS "
                    f"(default {DEFAULT_MAX_AGE_HOURS:g}) hours old.",
    )
    def _check(data_dir: DataDirResource) -> dg.AssetCheckResult:
        limit = max_age_hours()
        last = last_upload_per_entity(Ledger(data_dir.layout.store).entries()).get(entity)
        if last is None:
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                       metadata={"last_upload": "never", "max_age_hours": limit})
        age = (pd.Timestamp.now(tz="UTC") - last).total_seconds() / 3600
        return dg.AssetCheckResult(
            passed=age <= limit,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"last_upload": last.isoformat(), "age_hours": round(age, 2), "max_age_hours": limit},
        )

    return _check


upload_freshness = [upload_freshness_check(entity) for entity in ENTITIES]
