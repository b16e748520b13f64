"""Ingest rate and search latency on the real corpus, beside a LIKE-scan baseline.

    python -m bench.search             # the 28k real corpus
    python -m bench.search --scale 1000000

Two query sets: 20 short keyword queries, and 20 publishers' teasers typed as questions (long
sentences: most statements hold only some of their words, so the ranked partial tier does the work).
For the sentences, the all-words search (every word required: the search before ranking) is the
baseline from the same run.

Then both sets fused with a search by meaning over a vector for every statement, through the search
graph and through an exact product over every vector (the baseline). Embedding the whole corpus takes
hours, so the vectors here are random unit vectors (timing only: the graph's hard case); the time the
encoder takes to embed each query (what the bot adds before searching) is printed beside it, measured
on the real queries.

Run from the repository root; reads ../shared/data/search_corpus_ru.jsonl.gz.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ExactVectors, median, percentile, random_unit_vectors, read_jsonl_gz
from bot.ingest import parse_date_field
from meaning.encoder import EncoderConfig, load_encoder
from search.query import parse_query
from search.searcher import Searcher
from search.vectors import VectorIndex
from storage.base import Database
from storage.items import ItemsRepo
from storage.sqlite import SqliteDatabase
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
    if 0 < scale < len(base):  # a small run: the corpus's first statements
        return base[:scale]
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
        db = await SqliteDatabase.open(Path(tmp) / "bench.sqlite3")
        repo = ItemsRepo(db)
        t = time.perf_counter()
        for i in range(0, len(corpus), 2000):
            await repo.add_many(corpus[i:i + 2000])
        ingest_s = time.perf_counter() - t
        print(f"ingest: {len(corpus) / ingest_s:,.0f} items/s ({ingest_s:.1f} s)")
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO items_fts(items_fts) VALUES ('optimize')")

        search = Searcher(db)
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
                await search._ranked(parse_query(q).match(), [], (None, None), 11)
                all_words_times.append((time.perf_counter() - t) * 1000)
        fused = await fused_times(db, QUERIES + sentences, args.runs)
        await db.close()
    print(f"queries: {len(QUERIES)} x {args.runs} runs; parsed e.g. {parse_query(QUERIES[1]).match()}")
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
    for label, times in fused.items():
        print(f"{label}: p50 {median(times):.1f} ms, p99 {percentile(times, 99):.1f} ms")


async def fused_times(db: Database, queries: list[str], runs: int) -> dict[str, list[float]]:
    """Search fused with meaning over random statement vectors (timing only): through the search graph, and
    through the exact product over every vector (the baseline), with the real encoder's time to embed each
    query. Random vectors are the graph's hard case: real ones cluster, which its search follows faster."""
    ids = np.array([r[0] for r in await db.fetchall("SELECT id FROM items ORDER BY id")], dtype=np.int64)
    rng = np.random.default_rng(1)
    matrix = random_unit_vectors(rng, len(ids))
    vectors = random_unit_vectors(rng, len(queries))
    graph = VectorIndex(None)  # type: ignore[arg-type]  # filled here, not read from the database
    threads = os.cpu_count() or 1
    started = time.perf_counter()
    for start in range(0, len(ids), 50_000):
        graph._change(ids[start:start + 50_000], matrix[start:start + 50_000], threads=threads)
    seconds = time.perf_counter() - started
    print(f"search graph of {len(ids):,} vectors built in {seconds:.0f} s ({len(ids) / seconds:,.0f}/s on "
          f"{threads} threads; the bot adds on one, in the background), {graph._graph.memory_usage / 2**20:,.0f} MiB")
    exact = ExactVectors(ids, matrix, graph.hubness)
    found = [len({i for i, _ in graph.nearest(v, 10)} & {i for i, _ in exact.nearest(v, 10)}) for v in vectors]
    print(f"the graph finds {sum(found) / (10 * len(vectors)):.1%} of the exact 10 nearest (random vectors)")
    out: dict[str, list[float]] = {}
    for reach, index in (("search graph", graph), ("exact product over every row (baseline)", exact)):
        search = Searcher(db, index)  # type: ignore[arg-type]
        for _ in range(runs):
            for n, (q, v) in enumerate(zip(queries, vectors, strict=True)):
                t = time.perf_counter()
                await search.search(q, limit=10, query_vector=v)
                kind = "keywords" if n < len(QUERIES) else "sentences"
                out.setdefault(f"fused with meaning, {reach}, {kind}", []).append((time.perf_counter() - t) * 1000)
    encoder = load_encoder(EncoderConfig())
    if encoder is not None:
        encoder.queries(["прогрев"])
        embedding = out[f"embedding the query ({encoder.name})"] = []
        for q in queries:
            t = time.perf_counter()
            encoder.queries([q])
            embedding.append((time.perf_counter() - t) * 1000)
    return out


if __name__ == "__main__":
    asyncio.run(main())
