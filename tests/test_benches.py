"""Every benchmark module imports, and each that can run small does, in seconds: nothing else runs them in CI,
so a refactor could break one unnoticed (bench.scale once stopped at an import of a helper that had been
renamed)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import DATA_DIR
from tests import postgres_server

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")
RUNNABLE = sorted(name for name in MODULES if "__main__" in (BENCH / f"{name}.py").read_text(encoding="utf-8"))

# Each benchmark that runs small: its arguments, and a line of its report that says it got to the end.
SMALL = {
    "stemming": (["--words", "2000"], "pymorphy3 dictionary form (baseline)"),
    "stories": (["--near", "20", "--big-day", "0", "--stems-only"], "by stems"),
    "personal": (["--subscribers", "20", "--statements", "30"], "preparation could keep up with"),
    "scale": (["--items", "300", "--workers-items", "20", "--skip-fanout", "--graph-vectors", "300"],
              "a replica's start"),
}
# The others, and why they are not run here: each costs more than seconds at any size.
LARGE = {
    "big_day": "starts a bot process and builds a day's digest: 20 s at 300 statements",
    "digest_quality": "embeds four real days with the encoder: a minute without the vector cache",
    "encoder": "times a fixed grid of engines, batch sizes and lengths",
    "fanout": "paces real sends at DELIVERY_RATE through a Bot API server",
    "follow": "embeds labelled topics with the encoder",
    "inline": "ingests and embeds the whole corpus",
    "install": "builds two virtual environments from the package index",
    "not_news": "trains the classifier on embedded labelled posts: 20 s without the vector cache",
    "post_latency": "loads a seq2seq model and keeps it busy",
    "relevance": "ingests the whole corpus and scores every query set",
    "search": "ingests the whole corpus and embeds the queries",
    "sources": "reads hostile documents up to the reader's 20 s CPU budget",
    "summarize": "runs seq2seq models on both engines",
}


@pytest.mark.parametrize("name", MODULES)
def test_a_benchmark_module_imports(name):
    module = importlib.import_module(f"bench.{name}")
    if name in RUNNABLE:  # a benchmark, not a helper
        assert callable(getattr(module, "main", None)), f"bench.{name} runs but has no main()"


def test_every_benchmark_is_run_small_here_or_says_why_not():
    assert sorted([*SMALL, *LARGE]) == RUNNABLE


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.postgres) if n == "scale" else n
                                  for n in sorted(SMALL)])
def test_a_benchmark_runs_small_to_its_report(name):
    if not DATA_DIR.exists():
        pytest.skip(f"the benchmarks read {DATA_DIR}, which this machine does not have")
    if name == "scale" and (reason := postgres_server.missing_reason()):
        if os.environ.get(postgres_server.REQUIRE_ENV):
            pytest.fail(f"{postgres_server.REQUIRE_ENV} is set, but {reason}")
        pytest.skip(reason)
    args, last_words = SMALL[name]
    done = subprocess.run([sys.executable, "-m", f"bench.{name}", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert last_words in done.stdout, done.stdout[-3000:]
