"""The data contract: canonical entities (``entities``), validation against them
(``validation``) and the data-quality rules the asset checks apply (``quality``).

No Dagster import here: ingestion, the CLI, the assets and the tests share this code.
"""

from retail_pipeline.contract.entities import (
    DATE,
    ENTITIES,
    FLOAT,
    INTEGER,
    LINE_TYPES,
    STRING,
    Column,
    Entity,
    RowRule,
    SignRule,
)
from retail_pipeline.contract.validation import (
    EARLIEST_DATE,
    FIRST_DATA_ROW,
    LATEST_DATE,
    MAX_REPORTED,
    ContractError,
    Problem,
    RuleCount,
    by_rule_lines,
    empty_frame,
    validate,
)

__all__ = [
    "DATE", "ENTITIES", "FLOAT", "INTEGER", "STRING", "Column", "Entity", "RowRule", "SignRule", "LINE_TYPES", "EARLIEST_DATE",
    "FIRST_DATA_ROW", "LATEST_DATE", "MAX_REPORTED", "ContractError", "Problem", "RuleCount", "by_rule_lines", "empty_frame",
    "validate",
]
