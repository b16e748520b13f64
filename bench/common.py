"""Shared helpers of the benchmarks: where the real data lies, and summary statistics."""

from __future__ import annotations

import gzip
import json
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        sys.exit(f"data file not found: {path} (the benchmarks read ../shared/data at run time)")
    return path


def read_jsonl_gz(name: str) -> Iterator[dict]:
    with gzip.open(data_file(name), "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)
