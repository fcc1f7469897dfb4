"""What kind of bytes an upload holds, decided from the bytes rather than the file name.

Retailers rename files, save Excel as ``.csv`` and gzip exports; the name is only a hint.
This module unwraps gzip (checking the real magic number), tells a workbook (zip) from
text, and turns everything that cannot be read as UTF-8 text into a problem that says
where the first bad byte is, so the person fixing the export knows what to look for.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

from retail_pipeline.contract import ContractError, Problem

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_FORMATS = {
    b"\xd0\xcf\x11\xe0": "a legacy Excel .xls (or other OLE) file: save it as .xlsx or CSV",
    b"%PDF": "a PDF document, not a table",
    b"\xff\xfe": "UTF-16 text: save it as UTF-8",
    b"\xfe\xff": "UTF-16 text: save it as UTF-8",
    b"BZh": "a bzip2 archive: only gzip compression is supported",
    b"\xfd7zXZ": "an xz archive: only gzip compression is supported",
    b"7z\xbc\xaf": "a 7-Zip archive: only gzip compression is supported",
}


@dataclass(frozen=True)
class Unpacked:
    """The upload's bytes after decompression, and what container they are."""

    data: bytes
    container: str  # "csv" (text) or "xlsx"
    compression: str | None  # "gzip" or None
    verified: bool = True  # False: the UTF-8 check of ``data`` is still due

    @property
    def label(self) -> str:
        return self.container + ("+gzip" if self.compression else "")


def _reject(file: str, rule: str, row: int | None = None, value: str | None = None):
    raise ContractError([Problem(file, row, None, value, rule)])


def unpack(raw: bytes, file: str, encoding: str = "utf-8", check: bool = True) -> Unpacked:
    """Decompress and classify ``raw``; raises ContractError for unreadable bytes.

    Text in another ``encoding`` (named by a mapping file) is re-encoded to UTF-8.
    ``check=False`` leaves the UTF-8 check of text to the caller (``Unpacked.verified``
    says whether it is still due; ``check_utf8`` gives the exact problem).
    """
    compression = None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            _reject(file, f"the gzip data is damaged or cut off ({exc})")
        compression = "gzip"
    elif file.lower().endswith((".gz", ".gzip")):
        _reject(file, "the name ends in .gz but the content is not gzip "
                      f"(first bytes {raw[:4]!r} instead of the gzip magic 1f 8b)")
    if raw[:4] == ZIP_MAGIC:
        return Unpacked(raw, "xlsx", compression)
    for magic, what in _OTHER_FORMATS.items():
        if raw.startswith(magic):
            _reject(file, f"the file is {what}")
    if not raw or raw.isspace() or (raw.startswith(UTF8_BOM) and (len(raw) == 3 or raw[3:].isspace())):
        _reject(file, "the file is empty" + (" after decompression" if compression else ""))
    nul = raw.find(b"\x00", 0, 65536)
    if nul >= 0:
        _reject(file, f"the file is binary, not text: NUL byte at byte offset {nul} "
                      "(is it a spreadsheet or archive saved under a .csv name?)",
                row=raw.count(b"\n", 0, nul) + 1)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig"):
        if not check:
            return Unpacked(raw, "csv", compression, verified=False)
        check_utf8(raw, file)
    else:
        try:
            raw = raw.decode(encoding).encode("utf-8")
        except (LookupError, UnicodeDecodeError) as exc:
            _reject(file, f"the file cannot be decoded as {encoding}: {exc}")
    return Unpacked(raw, "csv", compression)


def check_utf8(data: bytes, file: str) -> None:
    """Raise a problem naming the byte offset and line of the first invalid UTF-8 byte."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.start + 1]
        _reject(file, f"the file is not UTF-8: byte 0x{bad.hex().upper()} at byte offset "
                      f"{exc.start} (line {line}) cannot be decoded; save the export as UTF-8 "
                      "or name its encoding in a mapping file", row=line, value=bad.hex())


def strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(UTF8_BOM) else data
