"""Inline search beside /search: the same 20 queries on the real corpus, through the code each runs.

    python -m bench.inline [--runs 5]

/search builds its page (`bot.handlers.search._page`: search, save the query for its buttons, render five
results); an inline answer (`bot.handlers.inline`: search ten, read their statements and summaries, render each
as an article). A search grows with the results it ranks, so the same /search page with ten results is timed
too: the like-for-like baseline. Both by words only (no encoder: the query's embedding costs both the same).
Printed: median and p95 of each over every query and run, and the inline/search ratios.

Run from the repository root; reads ../shared/data/search_corpus_ru.jsonl.gz.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import median, percentile
from bench.search import QUERIES, load_corpus
from bot.config import load_settings
from bot.handlers.inline import PAGE, _articles, _found
from bot.handlers.search import _page
from bot.render import search_results
from bot.services import Services
from storage.sqlite import SqliteDatabase


async def timed(make, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        for query in QUERIES:
            started = time.perf_counter()
            await make(query)
            times.append(time.perf_counter() - started)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        db = await SqliteDatabase.open(Path(workdir) / "bench.sqlite3")
        services = Services.build(load_settings(embedding_backend="none", summarizer_backend="extractive"), db)
        items = load_corpus(0)
        await services.items.add_many(items)
        print(f"{len(items):,} statements, {len(QUERIES)} queries × {args.runs} runs, words only")

        async def search_page(query: str) -> None:
            await _page(services, 1, query, 0)

        async def search_page_of_ten(query: str) -> None:
            search_results(query, await services.search.find(query, limit=PAGE))
            await services.searches.save(1, query)

        async def inline_answer(query: str) -> None:
            ids, _more = await _found(services, query, 0)
            await _articles(services, ids)

        await timed(search_page, 1)  # warm: the index's pages in memory for both alike
        searched = await timed(search_page, args.runs)
        searched_ten = await timed(search_page_of_ten, args.runs)
        answered = await timed(inline_answer, args.runs)
        for name, times in (("/search page (5 results)", searched), (f"/search page of {PAGE}", searched_ten),
                            (f"inline answer ({PAGE} articles)", answered)):
            print(f"{name}: median {median(times) * 1000:.1f} ms, p95 {percentile(times, 95) * 1000:.1f} ms")
        for name, base in (("a /search page", searched), (f"a /search page of {PAGE}", searched_ten)):
            print(f"inline / {name}: median {median(answered) / median(base):.2f}×, "
                  f"p95 {percentile(answered, 95) / percentile(base, 95):.2f}×")
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
