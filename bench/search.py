"""Ingest rate and search latency on the real corpus, beside a LIKE-scan baseline.

    python -m bench.search             # the 28k real corpus
    python -m bench.search --scale 1000000

Two query sets: 20 short keyword queries, and 20 publishers' teasers typed as questions (long
sentences: most statements hold only some of their words, so the ranked partial tier does the work).
For the sentences, the all-words search (every word required: the search before ranking) is the
baseline from the same run.

Run from the repository root; reads ../shared/data/search_corpus_ru.jsonl.gz.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import median, percentile, read_jsonl_gz
from bot.ingest import parse_date_field
from storage.db import Database
from storage.items import ItemsRepo
from storage.search import SearchRepo, parse_query
from storage.statements import StatementError, parse_statement

QUERIES = [
    "санкции", "визит президента", "курс рубля", "выборы губернатора", "нефть цены",
    "искусственный интеллект", "Москва", "коронавирус вакцина", "пожар", "Telegram",
    '"центральный банк"', "ключевая ставка", "налоги -бизнес", "учения армии", "погода жара",
    "футбол матч", "ДТП", "суд приговор", "Украина переговоры", "Python",
]


def load_corpus(scale: int) -> list:
    base = []
    for obj in read_jsonl_gz("search_corpus_ru.jsonl.gz"):
        try:
            base.append(parse_statement(obj["text"], title=obj.get("title"), source=obj.get("publisher") or "",
                                        statement_date=parse_date_field(obj.get("date"))))
        except StatementError:
            continue
    items = list(base)
    copy = 1
    while len(items) < scale:  # replicas with an id suffix: distinct hashes, same words
        items.extend(type(it)(text=f"{it.text}\n#{copy}", statement_date=it.statement_date, title=it.title,
                              source=it.source) for it in base[: scale - len(items)])
        copy += 1
    return items


async def like_baseline(db: Database, queries: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        for q in queries:
            word = q.split()[0].strip('"-')
            t = time.perf_counter()
            await db.fetchall("SELECT id FROM items WHERE text LIKE ? ORDER BY statement_date DESC LIMIT 11",
                              (f"%{word}%",))
            times.append((time.perf_counter() - t) * 1000)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=0, help="replicate the corpus to this many items")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    corpus = load_corpus(args.scale)
    print(f"corpus: {len(corpus):,} items")
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.sqlite3")
        repo = ItemsRepo(db)
        t = time.perf_counter()
        for i in range(0, len(corpus), 2000):
            await repo.add_many(corpus[i:i + 2000])
        ingest_s = time.perf_counter() - t
        print(f"ingest: {len(corpus) / ingest_s:,.0f} items/s ({ingest_s:.1f} s)")
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO items_fts(items_fts) VALUES ('optimize')")

        search = SearchRepo(db)
        fts_times, found, worst = [], {}, {}
        for _ in range(args.runs):
            for q in QUERIES:
                t = time.perf_counter()
                page = await search.search(q, limit=10)
                fts_times.append((time.perf_counter() - t) * 1000)
                found[q] = len(page.hits)
                worst[q] = max(worst.get(q, 0.0), fts_times[-1])
        like_times = await like_baseline(db, QUERIES, max(1, args.runs // 2 if len(corpus) > 100_000 else args.runs))
        sentences = [r["summary"] for r in read_jsonl_gz("eval_lead_summary_ru.jsonl.gz")][:20]
        ranked_times, all_words_times = [], []
        for _ in range(args.runs):
            for q in sentences:
                t = time.perf_counter()
                await search.search(q, limit=10)
                ranked_times.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                await search._ranked(parse_query(q).fts(), [], 11)
                all_words_times.append((time.perf_counter() - t) * 1000)
        await db.close()
    print(f"queries: {len(QUERIES)} x {args.runs} runs; parsed e.g. {parse_query(QUERIES[1]).fts()}")
    print(f"{'':22}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'FTS5 stems + bm25':22}{median(fts_times):10.2f}{percentile(fts_times, 99):10.2f}")
    print(f"{'baseline LIKE scan':22}{median(like_times):10.2f}{percentile(like_times, 99):10.2f}")
    print(f"LIKE / FTS5: {median(like_times) / median(fts_times):.1f}x at p50, "
          f"{percentile(like_times, 99) / percentile(fts_times, 99):.1f}x at p99 "
          "(LIKE stops at the first 11 newest substring hits: unranked, no morphology)")
    print("hits per query (page of 10):", ", ".join(f"{q}={n}" for q, n in found.items()))
    slowest = sorted(worst.items(), key=lambda kv: -kv[1])[:3]
    print("slowest queries (ms):", ", ".join(f"{q}={ms:.1f}" for q, ms in slowest))
    print(f"sentences (20 teasers x {args.runs} runs): ranked p50 {median(ranked_times):.1f} ms, "
          f"p99 {percentile(ranked_times, 99):.1f} ms; all words (baseline) p50 {median(all_words_times):.1f} ms, "
          f"p99 {percentile(all_words_times, 99):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
