"""Personal digests at scale: what follow/mute filters and a size cost the fan-out, beside the shared digest.

    python -m bench.personal [--subscribers 10000] [--statements 1000]

A day of real statements (the corpus, --statements of them) and N subscribers due at once. Each
subscriber follows two terms and mutes one, drawn from the corpus's 300 commonest longer words, and picks
a size from 5 to 30: almost every subscriber gets a digest of their own. The fan-out's preparation
(grouping, rendering and storing each distinct digest, claiming each delivery) is timed per subscriber,
with how far it raised the process's peak memory and the database's size, beside the same subscribers
without filters (one shared digest) in the same run. Messages are paced by DELIVERY_RATE after the
preparation: what it decides is how long the first message waits, and whether preparing could keep up
with 25 messages a second.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import read_jsonl_gz
from bot.config import load_settings
from bot.delivery import Fanout, FanoutReport
from bot.services import Services
from storage.items import iso_utc
from storage.morphology import STOPWORDS, WORD_RE, normalize_word
from storage.sqlite import SqliteDatabase
from storage.statements import StatementError, parse_statement

NOW = datetime(2025, 8, 9, 6, 30, tzinfo=UTC)


class NoBot:
    async def send_message(self, *args, **kwargs):
        raise AssertionError("preparation only: nothing is sent")


def statements_and_terms(count: int) -> tuple[list, list[str]]:
    items, words = [], Counter()
    for obj in read_jsonl_gz("search_corpus_ru.jsonl.gz"):
        try:
            items.append(parse_statement(obj["text"], title=obj.get("title")))
        except StatementError:
            continue
        words.update(w for w in (normalize_word(m) for m in WORD_RE.findall(obj["text"][:300]))
                     if len(w) > 4 and w not in STOPWORDS)
        if len(items) >= count:
            break
    common = [w for w, _ in words.most_common(300)]
    return items, common


async def prepare(tmp: Path, name: str, items: list, subscribers: int, terms: list[str] | None) -> tuple[float, int]:
    """Seconds and peak bytes of one fan-out's preparation."""
    db = await SqliteDatabase.open(tmp / f"{name}.sqlite3")
    services = Services.build(load_settings(summarizer_backend="extractive", embedding_backend="none"), db)
    await services.items.add_many(items, now=NOW - timedelta(hours=2))
    rng = random.Random(7)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO subscribers(chat_id, active, digest_time, timezone, created_at, digest_size)"
            " VALUES (?, 1, '09:00', 'Europe/Moscow', ?, ?)",
            [(10_000 + n, iso_utc(NOW - timedelta(days=3)), rng.randint(5, 30) if terms else None)
             for n in range(subscribers)])
        if terms:
            await conn.executemany(
                "INSERT INTO digest_filters(chat_id, kind, term, created_at) VALUES (?, ?, ?, ?)",
                [(10_000 + n, kind, term, iso_utc(NOW)) for n in range(subscribers)
                 for kind, term in zip(("follow", "follow", "mute"), rng.sample(terms, 3), strict=True)])
    fanout = Fanout(NoBot(), services)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    await fanout._claim_due(NOW, False, FanoutReport())
    seconds = time.perf_counter() - started
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024  # how far the peak RSS rose
    (digests,) = await db.fetchone("SELECT count(*) FROM digests")
    (claimed,) = await db.fetchone("SELECT count(*) FROM deliveries")
    await db.close()
    assert claimed == subscribers, (claimed, subscribers)
    size = (tmp / f"{name}.sqlite3").stat().st_size
    print(f"  {name}: {digests} distinct digests, {claimed} deliveries claimed, database {size / 2**20:.0f} MB")
    return seconds, peak


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--statements", type=int, default=1000)
    args = parser.parse_args()
    items, terms = statements_and_terms(args.statements)
    print(f"{len(items)} statements of a day, {args.subscribers} subscribers due at once")
    with tempfile.TemporaryDirectory() as tmp:
        shared, shared_peak = await prepare(Path(tmp), "shared", items, args.subscribers, None)
        personal, personal_peak = await prepare(Path(tmp), "personal", items, args.subscribers, terms)
    n = args.subscribers
    print(f"shared digest (baseline): {shared:.1f} s, {shared / n * 1000:.2f} ms a subscriber, "
          f"peak RSS +{shared_peak / 2**20:.0f} MB")
    print(f"2 followed + 1 muted term and a size each: {personal:.1f} s, {personal / n * 1000:.2f} ms a subscriber "
          f"({personal / shared:.1f}x), peak RSS +{personal_peak / 2**20:.0f} MB over the shared run's")
    print(f"at 25 messages/s the sending of {n} digests takes {n / 25:.0f} s; preparation could keep up with "
          f"{n / personal:.0f} subscribers/s")


if __name__ == "__main__":
    asyncio.run(main())
