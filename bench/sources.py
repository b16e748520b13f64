"""Polling sources: 500 local feeds of 50 real Russian news entries each, read in rounds.

    python -m bench.sources [--feeds 500] [--entries 50] [--concurrency 8]

A separate process serves the feeds (RSS 2.0, Atom and JSON Feed in turn, each with an ETag) on
loopback. Printed, each with its ratio to the baseline of the same run:
- baseline: the same 500 GETs with the same HTTP client and concurrency, bodies read and thrown away;
- round 1: every source due and new: fetch, parse, store (statements per second, peak memory);
- round 2: the next poll, every feed unchanged (304 Not Modified);
- round 3: the next poll with the ETags forgotten: every body read again, the same as last time;
- round 4: every feed with one new entry on top (a new ETag): every body parsed, one entry in 51 stored.
Each round also prints how late a 10 ms timer fired meanwhile: how long a user's reply would wait.

Then hostile sources (tests/hostile_feeds.py, 2 MB each: DOCTYPE, tag, comment and entity runs) are polled,
and a user's reply is timed meanwhile (a hop through the event loop and the shared thread pool, as a search or
a summary takes): idle, during the poll (bodies read in the reader processes), and during the same bodies read
in threads of the bot's own pool (how feeds were read before), each beside the idle figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import itertools
import json
import multiprocessing
import resource
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import percentile, read_jsonl_gz
from sources.feeds import read_feed
from sources.fetch import Fetcher
from sources.poller import SourcePoller
from storage.db import open_database
from storage.items import ItemsRepo
from storage.sources import SourcesRepo
from tests.hostile_feeds import hostile_bodies

EVERY = timedelta(minutes=10)


def _rss(n: int, docs: list[dict]) -> tuple[bytes, str]:
    items = "".join(
        f"<item><guid>f{n}-{d.get('key', i)}</guid><title>{html.escape(d['title'])}</title><link>https://feed{n}.example.ru/{i}"
        f"</link><pubDate>Sat, 09 Aug 2025 10:{i % 60:02d}:00 +0300</pubDate>"
        f"<description>{html.escape(d['text'])}</description></item>" for i, d in enumerate(docs))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Лента {n}</title>{items}'
            "</channel></rss>").encode(), "application/rss+xml"


def _atom(n: int, docs: list[dict]) -> tuple[bytes, str]:
    entries = "".join(
        f'<entry><id>f{n}-{d.get("key", i)}</id><title>{html.escape(d["title"])}</title>'
        f'<link rel="alternate" href="https://feed{n}.example.ru/{i}"/><updated>2025-08-09T07:{i % 60:02d}:00Z'
        f'</updated><content type="text">{html.escape(d["text"])}</content></entry>' for i, d in enumerate(docs))
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Лента {n}'
            f"</title>{entries}</feed>").encode(), "application/atom+xml"


def _json(n: int, docs: list[dict]) -> tuple[bytes, str]:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": f"Лента {n}", "items": [
        {"id": f"f{n}-{d.get('key', i)}", "url": f"https://feed{n}.example.ru/{i}", "title": d["title"],
         "content_text": d["text"], "date_published": "2025-08-09T10:00:00+03:00"} for i, d in enumerate(docs)]},
        ensure_ascii=False).encode(), "application/feed+json"


def build_feeds(count: int, entries: int) -> tuple[list[tuple[bytes, str]], list[tuple[bytes, str]]]:
    """Each feed as served first, and later with one new entry on top."""
    corpus = []
    for doc in read_jsonl_gz("search_corpus_ru.jsonl.gz"):
        text = " ".join(doc["text"].split())
        if len(text) > 200:
            corpus.append({"title": doc.get("title") or text.split(".")[0][:120], "text": text[:3000]})
    # The corpus once over, then again with a mark: every entry a text of its own.
    needed = count * (entries + 1)
    docs = [d if i < len(corpus) else {**d, "text": f"{d['text']} (повтор {i // len(corpus)})"}
            for i, d in zip(range(needed), itertools.cycle(corpus), strict=False)]
    makers = [_atom, _json] + [_rss] * 8  # one in ten Atom, one in ten JSON Feed, the rest RSS 2.0
    first = [makers[n % 10](n, docs[n * entries:(n + 1) * entries]) for n in range(count)]
    extra = docs[count * entries:]
    later = [makers[n % 10](n, [{**extra[n], "key": "new"}] + docs[n * entries:(n + 1) * entries])
             for n in range(count)]
    return first, later


def serve(versions: tuple[list[tuple[bytes, str]], ...], port: int) -> None:
    """The feeds, each with an ETag; POST /next serves every feed's next version."""
    from aiohttp import web

    version = [0]

    async def feed(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        etag = f'"{n}-v{version[0]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body, content_type = versions[version[0]][n]
        return web.Response(body=body, headers={"Content-Type": content_type, "ETag": etag})

    async def next_version(request: web.Request) -> web.Response:
        version[0] += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/feed/{n}", feed)
    app.router.add_post("/next", next_version)
    hostile = list(hostile_bodies(2 * 2**20).values())

    async def hostile_feed(request: web.Request) -> web.Response:
        body, content_type = hostile[int(request.match_info["n"]) % len(hostile)]
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get("/hostile/{n}", hostile_feed)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def watch_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late a 10 ms timer fires while polling runs: what a reply to a user would wait for."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - started - 0.01)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace, base: str, workdir: Path) -> None:
    urls = [f"{base}/feed/{n}" for n in range(args.feeds)]
    fetcher = Fetcher(allow_private=True)
    gate = asyncio.Semaphore(args.concurrency)

    async def get(url: str) -> int:
        async with gate:
            return len((await fetcher.get(url)).body)

    await asyncio.gather(*(get(u) for u in urls[:20]))  # connections warm for every round alike
    started = time.perf_counter()
    sizes = await asyncio.gather(*(get(u) for u in urls))
    baseline = time.perf_counter() - started
    print(f"feeds: {args.feeds} × {args.entries} entries, {sum(sizes) / 2**20:.1f} MB in all, "
          f"concurrency {args.concurrency}")
    print(f"baseline (GET and read every feed, nothing else): {baseline:.2f} s")

    db = await open_database(workdir / "bench.sqlite3")
    clock = [datetime.now(UTC)]
    sources = SourcesRepo(db)
    poller = SourcePoller(sources, ItemsRepo(db), fetcher, poll_every=EVERY, concurrency=args.concurrency,
                          clock=lambda: clock[0])
    for url in urls:
        await sources.add(url, "rss", "", None, clock[0])
    rss_before = peak_rss_mb()

    async def round_(name: str) -> float:
        lags: list[float] = []
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_lag(lags, stop))
        started = time.perf_counter()
        polled = await poller.poll_due()
        took = time.perf_counter() - started
        stop.set()
        await watcher
        stored = sum(p.stored for p in polled)
        errors = [p.error for p in polled if p.error]
        print(f"{name}: {took:.2f} s ({took / baseline:.1f}× baseline), {len(polled)} sources, "
              f"{stored} statements stored ({stored / took:,.0f}/s), "
              f"{sum(p.not_modified for p in polled)} not modified, {sum(p.known for p in polled)} entries known"
              + (f", {len(errors)} errors: {errors[0]}" if errors else ""))
        print(f"  event loop meanwhile: a 10 ms timer late by p50 {percentile(lags, 50) * 1000:.1f},"
              f" p99 {percentile(lags, 99) * 1000:.1f}, max {max(lags) * 1000:.0f} ms")
        return took

    first = await round_("round 1 (all new)")
    print(f"  peak memory: {peak_rss_mb():.0f} MB resident, {peak_rss_mb() - rss_before:+.0f} MB during the round")
    clock[0] += EVERY
    second = await round_("round 2 (unchanged: 304)")
    async with db.transaction() as conn:
        await conn.execute("UPDATE sources SET etag = NULL, last_modified = NULL")
    clock[0] += EVERY
    third = await round_("round 3 (ETags forgotten: read again, the same bodies)")
    async with fetcher._client().post(f"{base}/next") as resp:
        resp.raise_for_status()
    clock[0] += EVERY
    fourth = await round_("round 4 (one new entry in each feed)")
    print(f"of round 1: round 2 {second / first:.1%}, round 3 {third / first:.1%}, round 4 {fourth / first:.1%}")
    print(f"an unchanged source costs {second / args.feeds * 1000:.2f} ms of a round")
    await hostile_round(base, poller, sources, clock)
    await poller.close()
    await db.close()


async def reply_latencies(seconds: float | None = None, until: asyncio.Future | None = None) -> list[float]:
    """What a user's reply waits for, sampled every 50 ms: a hop through the event loop and the shared pool."""
    waits: list[float] = []
    deadline = time.perf_counter() + (seconds or 1e9)
    while time.perf_counter() < deadline and not (until and until.done()):
        started = time.perf_counter()
        await asyncio.to_thread(lambda: None)
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return waits


async def hostile_round(base: str, poller: SourcePoller, sources: SourcesRepo, clock: list[datetime]) -> None:
    count = len(hostile_bodies(64))
    urls = [f"{base}/hostile/{n}" for n in range(count)]
    bodies = [(await poller.fetcher.get(url)).body for url in urls]
    idle = await reply_latencies(3.0)

    def line(name: str, waits: list[float], took: float) -> str:
        p50, top = percentile(waits, 50), max(waits)
        return (f"  {name}: {took:.1f} s; reply p50 {p50 * 1000:.1f} ms ({p50 / percentile(idle, 50):.1f}× idle), "
                f"max {top * 1000:.0f} ms ({top / max(idle):.1f}× idle)")

    print(f"hostile sources: {count} bodies of 2 MB; reply when idle p50 {percentile(idle, 50) * 1000:.1f} ms, "
          f"max {max(idle) * 1000:.0f} ms")
    clock[0] += EVERY * 10
    for url in urls:
        await sources.add(url, "rss", "", None, clock[0])
    started = time.perf_counter()
    polling = asyncio.ensure_future(poller.poll_due())
    waits = await reply_latencies(until=polling)
    polled = await polling
    print(line("polled (reader processes)", waits, time.perf_counter() - started))
    for p in polled:
        if p.error:
            print(f"    refused: {p.error}")
    started = time.perf_counter()
    reading = asyncio.ensure_future(asyncio.gather(
        *(asyncio.to_thread(_read_or_error, body) for body in bodies)))
    waits = await reply_latencies(until=reading)
    await reading
    print(line("the same bodies read in the bot's threads (before)", waits, time.perf_counter() - started))


def _read_or_error(body: bytes) -> None:
    with contextlib.suppress(Exception):  # a page, not a feed
        read_feed(body, "application/rss+xml", "https://example.ru/")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    versions = build_feeds(args.feeds, args.entries)
    port = free_port()
    server = multiprocessing.get_context("fork").Process(target=serve, args=(versions, port), daemon=True)
    server.start()
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as workdir:
            asyncio.run(run(args, f"http://127.0.0.1:{port}", Path(workdir)))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
