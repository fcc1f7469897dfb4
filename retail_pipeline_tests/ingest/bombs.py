"""Hostile uploads made on the fly, each run in a fresh process that reports its peak memory.

``python -m retail_pipeline_tests.ingest.bombs KIND DATA_DIR`` builds one bomb in
``DATA_DIR/incoming/`` (streamed: nothing large is ever held in memory or written
uncompressed to disk), ingests it, and prints one JSON line: the outcome, the rules given,
what was left in backups/, history and the ledger, and ``ru_maxrss`` of this process.
The process caps its own address space (``RLIMIT_AS``) so that code without a bound fails
with ``MemoryError`` instead of exhausting the machine.

Kinds: ``wide`` (a transactions CSV with 10,000 extra columns), ``zeros`` (2 GiB of NUL
bytes as gzip), ``text`` (2 GiB of valid CSV rows as gzip), ``sparse`` (a 2 GiB plain file
that takes no disk space), ``alias`` (a mapping YAML "billion laughs" alias bomb).
"""

from __future__ import annotations

import gzip
import json
import resource
import sys
from pathlib import Path

GIB = 1 << 30
MEMBER = 16 << 20  # each gzip member holds 16 MiB; members repeat to reach the size
ADDRESS_SPACE_CAP = 6 * GIB
HEADER = b"transaction_id,customer_id,product_id,shop_id,quantity,actual_price,transaction_date,payment_method"
ROW = b"T1,C1,P1,S1,1,2.00,2024-01-01,cash\n"


def _repeat_members(path: Path, first: bytes, block: bytes, total: int) -> None:
    """A multi-member gzip file decompressing to ``first`` + ``block`` repeated up to ``total``
    bytes (gzip readers concatenate members); written one compressed member at a time."""
    member = gzip.compress(block, compresslevel=9)
    written = len(first)
    with open(path, "wb") as out:
        out.write(gzip.compress(first))
        while written < total:
            out.write(member)
            written += len(block)


def wide_csv(path: Path, extra_columns: int = 10_000, rows: int = 1_000) -> None:
    header = HEADER + b"," + b",".join(b"x%d" % i for i in range(extra_columns)) + b"\n"
    tail = b"," + b",".join([b"1"] * extra_columns) + b"\n"
    with open(path, "wb") as out:
        out.write(header)
        for i in range(rows):
            out.write(b"T%d,C1,P1,S1,1,2.00,2024-01-01,cash" % i + tail)


def zeros_gzip(path: Path, size: int = 2 * GIB) -> None:
    _repeat_members(path, b"", bytes(MEMBER), size)


def text_gzip(path: Path, size: int = 2 * GIB) -> None:
    block = ROW * (MEMBER // len(ROW))
    _repeat_members(path, HEADER + b"\n", block, size)


def sparse(path: Path, size: int = 2 * GIB) -> None:
    with open(path, "wb") as out:
        out.truncate(size)


def alias_yaml(path: Path, levels: int = 9) -> None:
    """Each level lists the previous one ten times: 10**9 strings once expanded."""
    lines = ["entity: transactions", 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels + 1):
        lines.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]")
    lines.append("columns:")
    lines.append(f"  transaction_id: *l{levels}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


BOMBS = {"wide": ("wide.csv", wide_csv), "zeros": ("zeros.csv.gz", zeros_gzip),
         "text": ("rows.csv.gz", text_gzip), "sparse": ("huge.csv", sparse),
         "alias": ("bomb.yaml", alias_yaml)}


def main(kind: str, root: Path) -> dict:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))
    from retail_pipeline.contract import ContractError
    from retail_pipeline.ingest.ingest import ingest_file
    from retail_pipeline.ingest.ledger import Ledger
    from retail_pipeline.platform.layout import DataLayout

    layout = DataLayout(root).ensure()
    name, build = BOMBS[kind]
    outcome: dict = {"kind": kind}
    try:
        if kind == "alias":
            build(root / name)
            upload = layout.incoming / "sales.csv"
            upload.write_bytes(HEADER + b"\n" + ROW)
            try:
                result = ingest_file(upload, layout, mapping=root / name)
                outcome.update(status=result.status, rules=[p.rule for p in result.problems])
            except ContractError as exc:  # a broken mapping is refused before the file is read
                outcome.update(status="mapping refused", rules=[p.rule for p in exc.problems])
        else:
            build(layout.incoming / name)
            result = ingest_file(layout.incoming / name, layout)
            outcome.update(status=result.status, rules=[p.rule for p in result.problems],
                           error_json=str(result.error_path))
    except MemoryError:
        outcome.update(status="MemoryError", rules=[])
    outcome.update(
        backups=sorted(p.name for p in layout.backups.iterdir()),
        history=sorted(str(p.relative_to(layout.history)) for p in layout.history.rglob("*.parquet")),
        ledger=len(Ledger(layout.store).entries()),
        peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return outcome


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]))))
