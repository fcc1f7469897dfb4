"""Freed memory goes back to the operating system."""

import gc

from retail_pipeline.platform.memory import release_memory, resident_mb


def test_release_memory_returns_freed_heap_pages():
    release_memory()  # loads Arrow once, so its import does not count below
    blocks = [bytes(2000) + bytes([i % 256]) for i in range(100_000)]  # ~200 MB of malloc chunks
    pinned = [bytes(2000) + b"x" for _ in range(10)]  # allocated last: the heap's top stays in use
    grown = resident_mb()
    del blocks
    gc.collect()
    held = resident_mb()  # glibc keeps the free chunks below the pinned ones
    release_memory()
    assert len(pinned) == 10
    assert held > grown - 50
    assert resident_mb() < held - 100
