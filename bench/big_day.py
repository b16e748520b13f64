"""A big day against the real bot: bulk ingest while an admin posts, then a digest of 20,000 statements
while another user expects answers.

    python -m bench.big_day [--statements 20000] [--posts 60]

One run of the real bot (`newsbot run`) against the test Bot API server, one subscriber:
1. Baseline, idle bot: /help answered in (ms, median and max of 20).
2. `newsbot ingest` of N real statements dated one day runs as its own process on the bot's
   database while an admin posts M statements one by one: posts acknowledged, posts stored
   (both must be M) and how many of them arrived while the ingest was still running.
3. /senddigest and then /digest over that day, while the other user sends /help every 0.3 s:
   seconds until each digest arrived, its messages, and /help latency meanwhile (median, max)
   beside the idle baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import median, read_jsonl_gz
from tests.e2e import ROOT, BotApiServer, BotProcess

ADMIN, SUBSCRIBER, OTHER = 100, 200, 300
DAY = "2025-08-09"


def ask_help(api: BotApiServer) -> float:
    """Seconds from /help to its answer (the server's clock for both)."""
    start = len(api.sent())
    sent_at = time.time()
    api.send_text(OTHER, "/help")
    reply = api.wait_for(lambda r: r["chat_id"] == OTHER and "Новостной дайджест" in r["text"], after=start,
                         timeout=300)
    return reply["t"] - sent_at


def write_statements(path: Path, count: int) -> None:
    rows = [r for r in read_jsonl_gz("search_corpus_ru.jsonl.gz") if len(r["text"]) > 80]
    random.Random(7).shuffle(rows)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows[:count]:
            fh.write(json.dumps({"text": row["text"], "title": row.get("title"), "date": DAY},
                                ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = workdir / "day.jsonl"
        write_statements(data, args.statements)
        api = BotApiServer()
        bot = BotProcess(api, workdir, ADMIN_IDS=str(ADMIN), LOG_LEVEL="WARNING")
        try:
            api.send_text(SUBSCRIBER, "/start")
            api.wait_for(lambda r: r["chat_id"] == SUBSCRIBER)
            idle = [ask_help(api) for _ in range(20)]

            env = {**os.environ, "DATABASE_PATH": str(workdir / "bot.sqlite3"), "PYTHONPATH": str(ROOT),
                   "LOG_LEVEL": "WARNING"}
            started = time.monotonic()
            ingest = subprocess.Popen([sys.executable, "-m", "bot", "ingest", str(data)], cwd=workdir, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            acked = during = 0
            for i in range(args.posts):
                start = len(api.sent())
                api.send_text(ADMIN, f"date {DAY}\nЗаявление администратора номер {i + 1} о ремонте моста {i + 1}.")
                reply = api.wait_for(lambda r: r["chat_id"] == ADMIN and "охранено" in r["text"], after=start,
                                     timeout=60)
                acked += reply["text"].startswith("✅")
                during += ingest.poll() is None
            out, _ = ingest.communicate()
            ingest_s = time.monotonic() - started
            with sqlite3.connect(workdir / "bot.sqlite3") as conn:
                (stored,) = conn.execute("SELECT count(*) FROM items WHERE text LIKE 'Заявление администратора%'"
                                         ).fetchone()

            during_help: list[float] = []
            stop = threading.Event()

            def keep_asking() -> None:
                while not stop.is_set():
                    during_help.append(ask_help(api))
                    time.sleep(0.3)

            asker = threading.Thread(target=keep_asking)
            asker.start()
            timings = {}
            for command in ("/senddigest", "/digest"):
                start = len(api.sent())
                sent_at = time.time()
                api.send_text(ADMIN if command == "/senddigest" else SUBSCRIBER, command)
                done = (lambda r: r["chat_id"] == ADMIN and r["text"].startswith("Готово")) \
                    if command == "/senddigest" else \
                    (lambda r: r["chat_id"] == SUBSCRIBER and r["text"].startswith("<b>Дайджест"))
                finish = api.wait_for(done, after=start, timeout=900)
                parts = [r for r in api.sent()[start:] if r["chat_id"] == SUBSCRIBER
                         and r["text"].startswith(("<b>Дайджест", "•"))]
                timings[command] = (finish["t"] - sent_at, len(parts))
            stop.set()
            asker.join()
        finally:
            code = bot.stop()
            api.stop()
    print(f"big day: {args.statements} real statements dated {DAY}, bot exit code {code}")
    print(f"  idle /help (baseline): median {median(idle) * 1000:.0f} ms, max {max(idle) * 1000:.0f} ms")
    print(f"  ingest process: {ingest_s:.1f} s ({out.strip()}); admin posts meanwhile: {args.posts} sent, "
          f"{acked} acknowledged, {stored} stored, {during} while the ingest was running")
    for command, (seconds, parts) in timings.items():
        print(f"  {command}: answered in {seconds:.1f} s, digest of {parts} message(s)")
    print(f"  /help during the digests: {len(during_help)} asked, median {median(during_help) * 1000:.0f} ms, "
          f"max {max(during_help) * 1000:.0f} ms ({median(during_help) / median(idle):.1f}x the idle median)")


if __name__ == "__main__":
    main()
