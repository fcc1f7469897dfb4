"""Small upload files and store fingerprints shared by the ingestion tests."""

import csv
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
STORE_ITEM = SHARED_DATA / "store_item_demand" / "train.csv.gz"
WOOCOMMERCE = SHARED_DATA / "woocommerce" / "woocommerce_webtoffee_sample_orders.csv"
FILES = Path(__file__).parent / "files"

TX_HEADER = "transaction_id,customer_id,product_id,shop_id,quantity,actual_price,transaction_date,payment_method"
TX_ROWS = [
    "T1,C1,P1,S1,2,9.99,2024-01-05 10:30:00,card",
    "T2,,P2,S1,1,5.00,2024-01-06,cash",
    "T3,C2,P1,S2,3,9.99,2024-01-07 12:00:00,mobile",
]


def tx_csv(*rows: str, header: str = TX_HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *rows]).encode("utf-8") + newline.encode()


GOOD_TX = tx_csv(*TX_ROWS)


def store_fingerprint(store: Path) -> dict[str, str]:
    """sha256 of every file under store/ (tables, history, ledger), lock file excluded."""
    return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(store.rglob("*")) if p.is_file() and p.name != ".ingest.lock"}


def drop(layout, name: str, data: bytes) -> Path:
    path = layout.incoming / name
    path.write_bytes(data)
    return path


def woocommerce_line_items(path: Path) -> Iterator[tuple[dict, int, dict]]:
    """(order row, line number, item fields) of every line item of a WooCommerce export,
    parsed with the csv module: the expectation the reader's output is checked against."""
    with open(path, newline="", encoding="utf-8") as handle:
        orders = list(csv.DictReader(handle))
    for order in orders:
        for n in itertools.count(1):
            cell = order.get(f"line_item_{n}")
            if cell is None:
                break
            if cell:
                yield order, n, dict(part.split(":", 1) for part in cell.split("|"))
