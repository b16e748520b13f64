"""Known-item retrieval on the real corpus: does a natural query find its article in the first 10?

    python -m bench.relevance

The 28k corpus plus the 130 articles of the same-story gold pairs is indexed once. Two query sets:
- teasers: a publisher's teaser of an article (eval_lead_summary_ru, 257) → that article;
- headlines: another outlet's headline of the same story (tgcontest gold pairs labelled OK, 130) → the article.
For each mode, recall@10 and MRR@10; the baseline is "all words", the search before ranking (every
query word required), from the same run.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import median, read_jsonl_gz
from storage.db import Database
from storage.items import ItemsRepo
from storage.search import SearchRepo, parse_query
from storage.statements import StatementError, parse_statement

K = 10


async def build(db: Database) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Index the corpus and the gold articles; the (query, target id) pairs of both sets."""
    items = ItemsRepo(db)
    corpus = []
    for row in read_jsonl_gz("search_corpus_ru.jsonl.gz"):
        try:
            corpus.append(parse_statement(row["text"], title=row.get("title")))
        except StatementError:
            continue
    gold = [r for r in read_jsonl_gz("tgcontest_gold_pairs_ru.jsonl.gz") if r["label"] == "OK"]
    gold_items = [parse_statement(r["text_1"], title=r["title_1"]) for r in gold]
    ids: dict[str, int] = {}
    batch = corpus + gold_items
    for i in range(0, len(batch), 2000):
        chunk = batch[i:i + 2000]
        for item, result in zip(chunk, await items.add_many(chunk), strict=True):
            ids[item.content_hash] = result.item_id
    teasers = []
    for row in read_jsonl_gz("eval_lead_summary_ru.jsonl.gz"):
        try:
            teasers.append((row["summary"], ids[parse_statement(row["text"]).content_hash]))
        except (StatementError, KeyError):
            continue
    headlines = [(r["title_2"], ids[item.content_hash]) for r, item in zip(gold, gold_items, strict=True)]
    return teasers, headlines


async def all_words(search: SearchRepo, query: str) -> list[int]:
    """The baseline: only documents with every word (the search before ranking)."""
    parsed = parse_query(query)
    if parsed.empty:
        return []
    ids, _ = await search._ranked(parsed.fts(), [], K, 0)
    return ids


async def ranked(search: SearchRepo, query: str) -> list[int]:
    return [h.item_id for h in (await search.search(query, limit=K)).hits]


async def score(mode, search: SearchRepo, pairs: list[tuple[str, int]]) -> tuple[float, float, float, float]:
    """recall@K, MRR@K, share with no result at all, median ms."""
    found = rr = empty = 0.0
    times = []
    for query, target in pairs:
        started = time.perf_counter()
        got = await mode(search, query)
        times.append((time.perf_counter() - started) * 1000)
        empty += not got
        if target in got:
            found += 1
            rr += 1 / (got.index(target) + 1)
    return found / len(pairs), rr / len(pairs), empty / len(pairs), median(times)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "relevance.sqlite3")
        try:
            teasers, headlines = await build(db)
            search = SearchRepo(db)
            print(f"known-item retrieval, {K} results: {len(teasers)} teasers, {len(headlines)} other-outlet "
                  "headlines")
            print(f"{'mode':<22}{'set':<11}{'recall@10':>10}{'MRR@10':>8}{'no result':>11}{'median ms':>11}")
            for name, mode in (("all words (baseline)", all_words), ("ranked words", ranked)):
                for label, pairs in (("teasers", teasers), ("headlines", headlines)):
                    recall, mrr, empty, ms = await score(mode, search, pairs)
                    print(f"{name:<22}{label:<11}{recall:>10.2f}{mrr:>8.2f}{empty:>11.0%}{ms:>11.1f}")
        finally:
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
