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
import signal
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.db import open_database
from storage.items import ItemsRepo, iso_utc
from storage.statements import parse_statement
from tests.e2e import BotApiServer, BotProcess

FIRST_CHAT = 10_001


async def prepare(location: str | Path, subscribers: int) -> None:
    """A store (SQLite path or PostgreSQL URL) with a few statements and `subscribers` whose digest is due."""
    db = await open_database(location)
    now = datetime.now(UTC)
    digest_time = (now - timedelta(minutes=2)).strftime("%H:%M")
    await ItemsRepo(db).add_many([
        parse_statement(f"Новость {i}: в регионе {i} открыли новую школу и отремонтировали дорогу.")
        for i in range(12)], now=now - timedelta(hours=1))
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO subscribers(chat_id, active, digest_time, timezone, created_at) VALUES (?, 1, ?, 'UTC', ?)",
            [(FIRST_CHAT + i, digest_time, iso_utc(now - timedelta(days=3))) for i in range(subscribers)])
    await db.close()


def digests(api: BotApiServer) -> list[dict]:
    return [r for r in api.sent() if r["chat_id"] >= FIRST_CHAT and r["text"].startswith("<b>Дайджест")]


def wait_until(api: BotApiServer, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = digests(api)
        if len(got) >= count:
            return got
        time.sleep(0.5)
    return digests(api)


def max_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def run_phase(workdir: Path, subscribers: int, rate: float, kill_after: int | None) -> dict:
    asyncio.run(prepare(workdir / "bot.sqlite3", subscribers))
    api = BotApiServer()
    env = {"DELIVERY_RATE": str(rate), "TIMEZONE": "UTC", "LOG_LEVEL": "WARNING"}
    try:
        bot = BotProcess(api, workdir, **env)
        killed_at = None
        if kill_after:
            wait_until(api, kill_after, timeout=subscribers / rate * 3)
            bot.stop(sig=signal.SIGKILL)
            killed_at = len(digests(api))
            bot = BotProcess(api, workdir, **env)
        got = wait_until(api, subscribers, timeout=subscribers / rate * 3 + 30)
        time.sleep(2)  # anything sent twice would show up now
        got = digests(api)
        bot.stop()
    finally:
        api.stop()
    per_chat: dict[int, int] = {}
    for record in got:
        per_chat[record["chat_id"]] = per_chat.get(record["chat_id"], 0) + 1
    times = sorted(r["t"] for r in got)
    return {"sent": len(got), "chats": len(per_chat), "twice": sum(1 for n in per_chat.values() if n > 1),
            "missing": subscribers - len(per_chat), "seconds": times[-1] - times[0] if times else 0.0,
            "max_window": max_in_one_second(times), "killed_at": killed_at, "times": times}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=25.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        plain = run_phase(Path(tmp) / "a", args.subscribers, args.rate, kill_after=None)
        killed = run_phase(Path(tmp) / "b", args.subscribers, args.rate, kill_after=args.subscribers // 3)
    achieved = (plain["sent"] - 1) / plain["seconds"] if plain["seconds"] else 0.0
    print(f"fan-out of one digest to {args.subscribers} subscribers, DELIVERY_RATE={args.rate:g}/s (baseline)")
    print(f"  achieved: {achieved:.2f} msg/s = {achieved / args.rate:.1%} of the configured rate "
          f"({plain['sent']} messages in {plain['seconds']:.1f} s)")
    print(f"  most messages in any one-second window: {plain['max_window']} (cap {args.rate:g})")
    print(f"  kill -9 after {killed['killed_at']} digests, then restart: {killed['chats']} subscribers got theirs, "
          f"{killed['twice']} got it twice, {killed['missing']} got none "
          f"(max {killed['max_window']} in a one-second window)")


if __name__ == "__main__":
    main()
