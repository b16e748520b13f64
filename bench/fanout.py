"""Digest fan-out against the test Bot API server: rate, one-second windows, and kill -9.

    python -m bench.fanout [--subscribers 2000] [--rate 25]

Phase 1 starts the real bot (`newsbot run`) with N subscribers whose digest time has just
passed; its first scheduler tick fans the digest out. The server records when each message
arrives: achieved rate against DELIVERY_RATE (the baseline), and the most messages in any
one-second window. Phase 2 does the same, kills the bot with SIGKILL half-way, restarts it,
and counts digests per subscriber: each must have exactly one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.personal import statements_and_terms
from storage.db import open_database
from storage.items import ItemsRepo, iso_utc
from storage.statements import parse_statement
from tests.e2e import BotApiServer, BotProcess

FIRST_CHAT = 10_001
LEASE_SECONDS = 60  # a lease outlives its holder by this much (storage.leases.Lease ttl)


async def prepare(location: str | Path, subscribers: int, personal: int = 0) -> None:
    """A store (SQLite path or PostgreSQL URL) with a few statements and `subscribers` whose digest is due.
    With `personal`: that many real statements, and each subscriber follows two terms, mutes one and
    picks a size (as in bench.personal), so almost every one gets a digest of their own."""
    db = await open_database(location)
    now = datetime.now(UTC)
    digest_time = (now - timedelta(minutes=2)).strftime("%H:%M")
    if personal:
        items, terms = statements_and_terms(personal)
    else:
        items, terms = [parse_statement(f"Новость {i}: в регионе {i} открыли новую школу и отремонтировали дорогу.")
                        for i in range(12)], []
    await ItemsRepo(db).add_many(items, now=now - timedelta(hours=1))
    rng = random.Random(7)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO subscribers(chat_id, active, digest_time, timezone, created_at, digest_size)"
            " VALUES (?, 1, ?, 'UTC', ?, ?)",
            [(FIRST_CHAT + i, digest_time, iso_utc(now - timedelta(days=3)), rng.randint(5, 30) if terms else None)
             for i in range(subscribers)])
        if terms:
            await conn.executemany(
                "INSERT INTO digest_filters(chat_id, kind, term, created_at) VALUES (?, ?, ?, ?)",
                [(FIRST_CHAT + i, kind, term, iso_utc(now)) for i in range(subscribers)
                 for kind, term in zip(("follow", "follow", "mute"), rng.sample(terms, 3), strict=True)])
    await db.close()


class Received:
    """What the server received, fetched a new part at a time: sending every record at every look would
    stall the server, and bunch the messages it receives meanwhile (bursts that the bot never sent)."""

    def __init__(self, api: BotApiServer) -> None:
        self.api = api
        self.records: list[dict] = []

    def all(self) -> list[dict]:
        self.records += self.api.sent(len(self.records))
        return self.records

    def digests(self) -> list[dict]:
        return [r for r in self.all() if r["chat_id"] >= FIRST_CHAT and r["text"].startswith("<b>Дайджест")]


def wait_until(received: Received, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = received.digests()
        if len(got) >= count:
            return got
        time.sleep(0.5)
    return received.digests()


def max_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def run_phase(workdir: Path, subscribers: int, rate: float, kill_after: int | None, personal: int = 0) -> dict:
    asyncio.run(prepare(workdir / "bot.sqlite3", subscribers, personal))
    api = BotApiServer()
    received = Received(api)
    # No encoder: the worker would embed the statements beside the fan-out (stories are grouped by stems).
    env = {"DELIVERY_RATE": str(rate), "TIMEZONE": "UTC", "LOG_LEVEL": "WARNING", "EMBEDDING_BACKEND": "none"}
    try:
        bot = BotProcess(api, workdir, **env)
        killed_at = None
        if kill_after:
            wait_until(received, kill_after, timeout=subscribers / rate * 3)
            bot.stop(sig=signal.SIGKILL)
            killed_at = len(received.digests())
            bot = BotProcess(api, workdir, **env)
        # After a kill -9 the restarted bot first waits for the dead one's lease to expire.
        wait_until(received, subscribers, timeout=subscribers / rate * 3 + 30 + (LEASE_SECONDS if kill_after else 0))
        time.sleep(2)  # anything sent twice would show up now
        got = received.digests()
        api_sent = received.all()
        bot.stop()
    finally:
        api.stop()
    per_chat: dict[int, int] = {}
    for record in got:
        per_chat[record["chat_id"]] = per_chat.get(record["chat_id"], 0) + 1
    times = sorted(r["t"] for r in got)
    every = sorted(r["t"] for r in api_sent if r["chat_id"] >= FIRST_CHAT)  # a long digest is several messages
    return {"messages": len(every), "every": every, "sent": len(got), "chats": len(per_chat),
            "twice": sum(1 for n in per_chat.values() if n > 1),
            "missing": subscribers - len(per_chat), "seconds": times[-1] - times[0] if times else 0.0,
            "max_window": max_in_one_second(times), "killed_at": killed_at, "times": times}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--personal", type=int, default=0, metavar="STATEMENTS",
                        help="also a phase with that many real statements and filters for every subscriber")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in "abc":
            (Path(tmp) / name).mkdir()
        plain = run_phase(Path(tmp) / "a", args.subscribers, args.rate, kill_after=None)
        own = run_phase(Path(tmp) / "c", args.subscribers, args.rate, None, args.personal) if args.personal else None
        killed = run_phase(Path(tmp) / "b", args.subscribers, args.rate, kill_after=args.subscribers // 3)
    print(f"fan-out of one digest to {args.subscribers} subscribers, DELIVERY_RATE={args.rate:g}/s (baseline)")
    for name, phase in (("shared digest", plain), (f"own digests ({args.personal} statements, filters)", own)):
        if phase is None:
            continue
        every = phase["every"]
        seconds = every[-1] - every[0] if len(every) > 1 else 0.0
        achieved = (len(every) - 1) / seconds if seconds else 0.0
        print(f"  {name}: {achieved:.2f} msg/s = {achieved / args.rate:.1%} of the configured rate "
              f"({len(every)} messages to {phase['chats']} subscribers in {seconds:.1f} s, {phase['missing']} missing);"
              f" most in any one-second window: {max_in_one_second(every)} (cap {args.rate:g})")
    print(f"  kill -9 after {killed['killed_at']} digests, then restart: {killed['chats']} subscribers got theirs, "
          f"{killed['twice']} got it twice, {killed['missing']} got none "
          f"(max {killed['max_window']} in a one-second window)")


if __name__ == "__main__":
    main()
