"""Every benchmark module imports: nothing else runs them in CI, so a refactor could break one unnoticed
(bench.scale once stopped at an import of a helper that had been renamed)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", MODULES)
def test_a_benchmark_module_imports(name):
    module = importlib.import_module(f"bench.{name}")
    if "__main__" in (BENCH / f"{name}.py").read_text(encoding="utf-8"):  # a benchmark, not a helper
        assert callable(getattr(module, "main", None)), f"bench.{name} runs but has no main()"
