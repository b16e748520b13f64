"""SQLite and PostgreSQL side by side, in one run: ingest, search, workers, a contended fan-out with kill -9.

    python -m bench.scale [--items 100000] [--workers-items 5000] [--batch 8] [--subscribers 2000] [--rate 25]
                          [--skip-fanout] [--graph-vectors 0] [--pg-shared-buffers 128MB]

For each backend, on a new database (PostgreSQL: a throwaway server started here, durable settings, with
--pg-shared-buffers of buffer cache):
- ingest: the real corpus grown to --items, stored 500 a transaction (statements/s), and 200 statements
  added one at a time, as admins post them (ms each);
- search: the queries of bench.search, and 20 summaries' sentences as queries, words only, at --items
  statements: the worst of a first pass right after the load, then three passes (p50 / p99 ms);
- with --graph-vectors N: N statements given vectors; the search graph built by one process and saved where
  the store keeps it (SQLite: a file; PostgreSQL: the database), then a replica's start to a graph of all N
  (seconds), against the build a replica without a saved graph would do, and the replica's memory for it;
- workers: --workers-items statements summarized by 1, then 2 `newsbot worker` processes (statements/s;
  the extractive summarizer unless --summarizer says otherwise, so the figure is the pipeline's overhead:
  claims, reads, writes);
- fan-out: two `newsbot run` processes on one database send one digest to --subscribers subscribers
  through the test Bot API server; the one holding the fan-out lease is killed with SIGKILL a third of
  the way; the other takes the lease over when it expires. Printed: digests per subscriber (0 twice,
  0 none), the rate while sending against DELIVERY_RATE, the most messages in any one-second window,
  and the pause while the lease expired.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import numpy as np

from bench.common import median, percentile, random_unit_vectors, read_jsonl_gz
from bench.fanout import Received, max_in_one_second, prepare
from bench.search import QUERIES, load_corpus
from search.searcher import Searcher
from search.vectors import VectorIndex
from storage.db import open_database
from storage.embeddings import EmbeddingsRepo
from storage.graphs import GraphsRepo
from storage.items import ItemsRepo
from storage.statements import parse_statement
from tests import postgres_server
from tests.e2e import BotApiServer, BotProcess

BATCH = 500
GRAPH_MODEL = "bench-random"
NO_API = SimpleNamespace(url="http://127.0.0.1:9")  # workers never call the Bot API


class Stores:
    """New empty databases: SQLite files in a temp directory, or databases on one PostgreSQL server."""

    def __init__(self, kind: str, tmp: Path, server: str | None) -> None:
        self.kind, self.tmp, self.server, self.count = kind, tmp, server, 0

    async def new(self) -> str:
        self.count += 1
        if self.kind == "SQLite":
            return str(self.tmp / f"scale{self.count}.sqlite3")
        admin = await asyncpg.connect(self.server)
        await admin.execute(f"CREATE DATABASE scale{self.count}")
        await admin.close()
        return postgres_server.database_url(self.server, f"scale{self.count}")

    def env(self, location: str) -> dict[str, str]:
        return {"DATABASE_URL": location} if self.kind == "PostgreSQL" else {"DATABASE_PATH": location}


async def ingest_and_search(location: str, corpus: list, graph_vectors: int, tmp: Path) -> dict:
    db = await open_database(location)
    try:
        items = ItemsRepo(db)
        started = time.perf_counter()
        for i in range(0, len(corpus), BATCH):
            await items.add_many(corpus[i:i + BATCH])
        bulk = len(corpus) / (time.perf_counter() - started)
        singles = []
        for n in range(200):
            t = time.perf_counter()
            await items.add(parse_statement(f"Срочное заявление {n}: пресс-служба сообщила о новом решении."))
            singles.append((time.perf_counter() - t) * 1000)
        search = Searcher(db)
        sentences = [r["summary"] for r in read_jsonl_gz("eval_lead_summary_ru.jsonl.gz")][:20]
        out = {"bulk": bulk, "single": median(singles)}
        for kind, queries in (("", QUERIES), ("sentence ", sentences)):
            # The first pass after the load reads pages no search has read yet (at 1M on PostgreSQL its worst was
            # 3x the next passes'): its worst said apart, the three passes after it give p50 / p99.
            out[kind + "first"] = max(await _timed(search, queries))
            times = [ms for _ in range(3) for ms in await _timed(search, queries)]
            out[kind + "p50"], out[kind + "p99"] = median(times), percentile(times, 99)
        if graph_vectors:
            out["graph"] = await replica_start(db, location, graph_vectors, tmp)
        return out
    finally:
        await db.close()


async def _timed(search: Searcher, queries: list[str]) -> list[float]:
    """Each query searched once: ms each."""
    times = []
    for q in queries:
        t = time.perf_counter()
        await search.search(q)
        times.append((time.perf_counter() - t) * 1000)
    return times


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def replica_start(db, location: str, count: int, tmp: Path) -> dict:
    """The search graph of `count` statements' vectors (random unit vectors: timing and memory only) built
    by one process and saved where the store keeps it (SQLite: the file beside it; PostgreSQL: the database);
    then a replica's start on the same store: its own connection, the graph loaded, every vector searchable."""
    rng = np.random.default_rng(7)
    ids = [r[0] for r in await db.fetchall("SELECT id FROM items ORDER BY id LIMIT ?", (count,))]
    embeddings = EmbeddingsRepo(db)
    for start in range(0, len(ids), 5000):
        part = ids[start:start + 5000]
        await embeddings.put_many(GRAPH_MODEL, part, random_unit_vectors(rng, len(part)))
    path = tmp / "graph" if not location.startswith("postgres") else None  # as Settings.vector_graph_path
    builder = VectorIndex(embeddings, path, shared=GraphsRepo(db))
    started = time.perf_counter()
    await builder.sync(GRAPH_MODEL, wait=True)
    built = time.perf_counter() - started
    await builder.close()  # saved as it grew, and what it took in last
    del builder
    gc.collect()
    replica_db = await open_database(location)
    try:
        before = rss_mb()
        replica = VectorIndex(EmbeddingsRepo(replica_db), path, shared=GraphsRepo(replica_db))
        started = time.perf_counter()
        await replica.sync(GRAPH_MODEL, wait=True)
        loaded = time.perf_counter() - started
        assert len(replica.ids) == len(ids), "the replica's graph misses statements"
        memory = rss_mb() - before
    finally:
        await replica_db.close()
    return {"vectors": len(ids), "built": built, "loaded": loaded, "memory": memory}


async def worker_rate(stores: Stores, workdir: Path, statements: list, processes: int, summarizer: str,
                      batch: int) -> float:
    location = await stores.new()
    db = await open_database(location)
    workers = [BotProcess(NO_API, workdir, "worker", "--poll", "0.2", name=f"worker{n}",
                          SUMMARIZER_BACKEND=summarizer, SUMMARIZER_BATCH_SIZE=str(batch), EMBEDDING_BACKEND="none",
                          LOG_LEVEL="WARNING", **stores.env(location)) for n in range(processes)]
    try:
        # Timed once the workers have summarized a first statement each: start-up (loading the summarizer and
        # the dictionaries) is not the rate.
        await ItemsRepo(db).add_many(statements[:processes])
        await _summaries(db, processes, workers)
        await ItemsRepo(db).add_many(statements[processes:])
        started = time.perf_counter()
        await _summaries(db, len(statements), workers)
        return (len(statements) - processes) / (time.perf_counter() - started)
    finally:
        for w in workers:
            w.stop()
        await db.close()


async def _summaries(db, count: int, workers: list[BotProcess]) -> None:
    """Wait until `count` summaries are stored."""
    while (await db.fetchone("SELECT count(*) FROM summaries"))[0] < count:
        if any(w.proc.poll() is not None for w in workers):
            raise RuntimeError("a worker stopped:\n" + workers[0].output()[-2000:])
        await asyncio.sleep(0.05)


async def lease_holder_pid(location: str) -> int | None:
    db = await open_database(location)
    try:
        row = await db.fetchone("SELECT holder FROM leases WHERE name = 'fanout'")
        return int(row[0].split(":")[1]) if row else None
    finally:
        await db.close()


async def contended_fanout(stores: Stores, workdir: Path, subscribers: int, rate: float) -> dict:
    location = await stores.new()
    await prepare(location, subscribers)
    api = BotApiServer()
    received = Received(api)  # fetched a new part at a time: the whole record at every look stalls the server
    env = {"DELIVERY_RATE": str(rate), "TIMEZONE": "UTC", "LOG_LEVEL": "WARNING", **stores.env(location)}
    bots = []
    try:
        bots = [BotProcess(api, workdir, name=f"bot{n}", **env) for n in range(2)]
        deadline = time.monotonic() + subscribers / rate * 3 + 120
        while len(received.digests()) < subscribers // 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        pid = await lease_holder_pid(location)
        victim = next(b for b in bots if b.proc.pid == pid)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        killed_at, killed_t = len(received.digests()), time.time()
        while len({r["chat_id"] for r in received.digests()}) < subscribers and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # anything sent twice would show up now
        got = received.digests()
    finally:
        for b in bots:
            b.stop()
        api.stop()
    per_chat: dict[int, int] = {}
    for record in got:
        per_chat[record["chat_id"]] = per_chat.get(record["chat_id"], 0) + 1
    times = sorted(r["t"] for r in got)
    before = [t for t in times if t <= killed_t]
    after = [t for t in times if t > killed_t]
    pause = (after[0] - before[-1]) if before and after else 0.0
    sending = (times[-1] - times[0] - pause) if times else 0.0
    return {"twice": sum(1 for n in per_chat.values() if n > 1), "missing": subscribers - len(per_chat),
            "killed_at": killed_at, "pause": pause, "rate": (len(times) - 2) / sending if sending > 0 else 0.0,
            "max_window": max_in_one_second(times)}


async def run_backend(kind: str, server: str | None, args, corpus: list, tmp: Path) -> dict:
    stores = Stores(kind, tmp, server)
    out = await ingest_and_search(await stores.new(), corpus, args.graph_vectors, tmp / f"{kind}-graph")
    # Each stage said as it ends: a large run takes half an hour before the table.
    print(f"{kind}: ingest {out['bulk']:.0f}/s, search p50 {out['p50']:.1f} / p99 {out['p99']:.1f} ms (first pass"
          f" {out['first']:.0f}), sentences {out['sentence p50']:.1f} / {out['sentence p99']:.1f} ms (first pass"
          f" {out['sentence first']:.0f})"
          + (f", a replica's graph in {out['graph']['loaded']:.1f} s (built in {out['graph']['built']:.0f} s)"
             if "graph" in out else ""), flush=True)
    statements = [parse_statement(f"Заявление {n}. Власти региона {n % 50} объявили о ремонте {n} дорог и "
                                  f"строительстве школы. Работы завершат до конца года, сообщили в мэрии.")
                  for n in range(args.workers_items)]
    workdir = tmp / kind
    workdir.mkdir()
    out["workers"] = {n: await worker_rate(stores, workdir, statements, n, args.summarizer, args.batch)
                      for n in (1, 2)}
    print(f"{kind}: summaries/s with 1 and 2 workers {out['workers'][1]:.0f}, {out['workers'][2]:.0f}", flush=True)
    if not args.skip_fanout:
        out["fanout"] = await contended_fanout(stores, workdir, args.subscribers, args.rate)
    return out


def report(results: dict, args) -> None:
    print(f"\n{'':28}" + "".join(f"{k:>14}" for k in results))
    rows = [("ingest, 500 a batch /s", lambda r: f"{r['bulk']:.0f}"),
            ("one post at a time, ms", lambda r: f"{r['single']:.1f}"),
            ("first search pass, worst ms", lambda r: f"{r['first']:.1f}"),
            ("search p50 ms", lambda r: f"{r['p50']:.1f}"),
            ("search p99 ms", lambda r: f"{r['p99']:.1f}"),
            ("first sentences, worst ms", lambda r: f"{r['sentence first']:.1f}"),
            ("sentence search p50 ms", lambda r: f"{r['sentence p50']:.1f}"),
            ("sentence search p99 ms", lambda r: f"{r['sentence p99']:.1f}"),
            ("summaries/s, 1 worker", lambda r: f"{r['workers'][1]:.0f}"),
            ("summaries/s, 2 workers", lambda r: f"{r['workers'][2]:.0f}")]
    if args.graph_vectors:
        rows += [("search graph: vectors", lambda r: str(r["graph"]["vectors"])),
                 ("  built (and saved) once, s", lambda r: f"{r['graph']['built']:.1f}"),
                 ("  a replica's start, s", lambda r: f"{r['graph']['loaded']:.1f}"),
                 ("  start / build", lambda r: f"{r['graph']['loaded'] / r['graph']['built']:.2f}x"),
                 ("  replica memory +MB", lambda r: f"{r['graph']['memory']:.0f}")]
    if not args.skip_fanout:
        rows += [("fan-out: kill -9 after", lambda r: str(r["fanout"]["killed_at"])),
                 ("  digests twice / none", lambda r: f"{r['fanout']['twice']} / {r['fanout']['missing']}"),
                 ("  rate while sending /s", lambda r: f"{r['fanout']['rate']:.1f}"),
                 ("  of DELIVERY_RATE", lambda r: f"{r['fanout']['rate'] / args.rate:.0%}"),
                 ("  most in one second", lambda r: str(r["fanout"]["max_window"])),
                 ("  lease takeover pause s", lambda r: f"{r['fanout']['pause']:.0f}")]
    for label, cell in rows:
        print(f"{label:28}" + "".join(f"{cell(r):>14}" for r in results.values()))
    first, second = list(results.values())
    print(f"\nPostgreSQL / SQLite: ingest {second['bulk'] / first['bulk']:.2f}x, search p50 "
          f"{second['p50'] / first['p50']:.2f}x, p99 {second['p99'] / first['p99']:.2f}x, sentences p50 "
          f"{second['sentence p50'] / first['sentence p50']:.2f}x, "
          f"p99 {second['sentence p99'] / first['sentence p99']:.2f}x; "
          f"2 workers / 1 worker: SQLite {first['workers'][2] / first['workers'][1]:.2f}x, "
          f"PostgreSQL {second['workers'][2] / second['workers'][1]:.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workers-items", type=int, default=5000)
    parser.add_argument("--summarizer", default="extractive")
    parser.add_argument("--batch", type=int, default=8, help="SUMMARIZER_BATCH_SIZE of the workers")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--graph-vectors", type=int, default=0,
                        help="statements given vectors for the search graph's build, save and a replica's start")
    parser.add_argument("--pg-shared-buffers", default="128MB",
                        help="PostgreSQL's buffer cache (its default 128MB; docs/operations.md advises more at 1M)")
    args = parser.parse_args()
    corpus = load_corpus(args.items)
    print(f"{len(corpus):,} statements; {os.cpu_count()} cores")
    results = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        results["SQLite"] = await run_backend("SQLite", None, args, corpus, Path(tmp))
        server = stack.enter_context(postgres_server.running_server(
            durable=True, settings={"shared_buffers": args.pg_shared_buffers}))
        results["PostgreSQL"] = await run_backend("PostgreSQL", server, args, corpus, Path(tmp))
    report(results, args)


if __name__ == "__main__":
    asyncio.run(main())
