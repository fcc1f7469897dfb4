"""What kind of bytes an upload holds, decided from the bytes rather than the file name.

Retailers rename files, save Excel as ``.csv`` and gzip exports; the name is only a hint.
This module unwraps gzip (checking the real magic number), tells a workbook (zip) from
text, and turns everything that cannot be read as UTF-8 text into a problem that says
where the first bad byte is, so the person fixing the export knows what to look for.

Memory is bounded on hostile input: gzip is decompressed as a stream, the kind of the
content is judged on the first block (a stream of NUL bytes is refused after one block,
not after decompressing it all), and decompression stops as soon as the data passes
``max_bytes`` (``RETAIL_MAX_UPLOAD_MB``). A workbook is refused when the uncompressed
sizes its zip directory declares (which bound what a reader inflates) pass the same limit.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from dataclasses import dataclass

from retail_pipeline.contract import ContractError, Problem
from retail_pipeline.platform import settings

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
UTF8_BOM = b"\xef\xbb\xbf"
PREFIX = 65536  # what the kind of the content is judged on
BLOCK = 1 << 20
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


def size_text(n: float) -> str:
    """A byte count as people read it: 512 MB, 64 KB, 100 bytes."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.{0 if n % scale == 0 or n >= 10 * scale else 1}f} {unit}"
    return f"{n:,.0f} bytes"


def _too_large(file: str, max_bytes: int, after: str = "") -> None:
    _reject(file, f"the file holds more than {size_text(max_bytes)} of data{after}; the limit is "
                  "RETAIL_MAX_UPLOAD_MB: split the export into smaller files")


def _check_prefix(prefix: bytes, file: str, compression: str | None) -> None:
    """Refuse other formats and binary data, judged on the first bytes only."""
    if prefix[:4] == ZIP_MAGIC:
        return
    for magic, what in _OTHER_FORMATS.items():
        if prefix.startswith(magic):
            _reject(file, f"the file is {what}")
    nul = prefix.find(b"\x00", 0, PREFIX)
    if nul >= 0:
        _reject(file, f"the file is binary, not text: NUL byte at byte offset {nul}"
                      + (" after decompression" if compression else "")
                      + " (is it a spreadsheet or archive saved under a .csv name?)",
                row=prefix.count(b"\n", 0, nul) + 1)


def gunzip(raw: bytes, file: str, max_bytes: int) -> bytes:
    """Decompress gzip as a stream: refuse binary content after the first block and stop as
    soon as more than ``max_bytes`` came out (several gzip members are read as one)."""
    blocks, size, checked = [], 0, False
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            while True:
                block = stream.read(BLOCK)
                if not block:
                    break
                blocks.append(block)
                size += len(block)
                if size > max_bytes:
                    _too_large(file, max_bytes, " after decompression")
                if not checked and size >= PREFIX:
                    _check_prefix(b"".join(blocks)[:PREFIX], file, "gzip")
                    checked = True
    except (EOFError, OSError, zlib.error) as exc:
        _reject(file, f"the gzip data is damaged or cut off ({exc})")
    return b"".join(blocks)  # one copy of the whole text, not one per block


def _check_workbook_size(raw: bytes, file: str, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a readable zip: the workbook reader says so
    if declared > max_bytes:
        _too_large(file, max_bytes, f" once unzipped ({size_text(declared)} declared)")


def unpack(raw: bytes, file: str, encoding: str = "utf-8", check: bool = True,
           max_bytes: int | None = None) -> Unpacked:
    """Decompress and classify ``raw``; raises ContractError for unreadable bytes.

    Text in another ``encoding`` (named by a mapping file) is re-encoded to UTF-8.
    ``check=False`` leaves the UTF-8 check of text to the caller (``Unpacked.verified``
    says whether it is still due; ``check_utf8`` gives the exact problem). ``max_bytes``
    (default ``RETAIL_MAX_UPLOAD_MB``) bounds the data after decompression.
    """
    max_bytes = settings.max_upload_bytes() if max_bytes is None else max_bytes
    compression = None
    if len(raw) > max_bytes:
        _too_large(file, max_bytes)
    if raw[:2] == GZIP_MAGIC:
        raw = gunzip(raw, file, max_bytes)
        compression = "gzip"
    elif file.lower().endswith((".gz", ".gzip")):
        _reject(file, "the name ends in .gz but the content is not gzip "
                      f"(first bytes {raw[:4].hex(' ')} instead of the gzip magic 1f 8b)")
    if raw[:4] == ZIP_MAGIC:
        _check_workbook_size(raw, file, max_bytes)
        return Unpacked(raw, "xlsx", compression)
    _check_prefix(raw[:PREFIX], file, compression)
    if not raw or raw.isspace() or (raw.startswith(UTF8_BOM) and (len(raw) == 3 or raw[3:].isspace())):
        _reject(file, "the file is empty" + (" after decompression" if compression else ""))
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
