"""Workers share the backlog: two on one database make each summary once; a dead one's claims pass on;
`newsbot worker` runs on its own until stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from storage.base import Database
from storage.items import ItemsRepo, utc_now
from storage.sqlite import SqliteDatabase
from storage.statements import parse_statement
from storage.summaries import SummariesRepo
from summarizer.loader import LazySummarizer, SummarizerConfig
from summarizer.worker import StatementWorker

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [f"Заявление номер {n}: в городе отремонтируют {n} улиц до конца года." for n in range(1, 25)]


def worker_on(db: Database, made: list[str], meet: threading.Barrier | None = None, **kw) -> StatementWorker:
    """A worker whose model records what it was given; with `meet`, its first batch waits there for the other
    worker's first batch (both have claimed a share before either finishes one)."""
    summarizer = LazySummarizer(SummarizerConfig(model="x", backend="extractive"))
    real = summarizer.summarize

    def counting(texts: list[str]):
        if meet is not None and not made:
            meet.wait(10)
        made.extend(texts)
        return real(texts)

    summarizer.summarize = counting  # type: ignore[method-assign]
    return StatementWorker(db, summarizer, batch_size=4, **kw)


async def test_two_workers_on_one_database_make_each_summary_once(db, reopen):
    await ItemsRepo(db).add_many([parse_statement(t) for t in TEXTS])
    other = await reopen()
    made_here: list[str] = []
    made_there: list[str] = []
    meet = threading.Barrier(2)
    await asyncio.gather(worker_on(db, made_here, meet).drain(embed=False),
                         worker_on(other, made_there, meet).drain(embed=False))
    assert sorted(made_here + made_there) == sorted(TEXTS)  # every statement once, none twice
    assert made_here and made_there  # and both took a share
    assert await SummariesRepo(db).missing() == []


async def test_a_dead_workers_claims_pass_on_within_a_minute(db):
    await ItemsRepo(db).add_many([parse_statement(t) for t in TEXTS[:4]])
    now = utc_now()
    assert len(await SummariesRepo(db).claim_missing("dead-worker", 4, now)) == 4  # claimed, then it died
    made: list[str] = []
    assert await worker_on(db, made, wall_clock=lambda: now + timedelta(seconds=30)).drain(embed=False) == 0
    assert await worker_on(db, made, wall_clock=lambda: now + timedelta(seconds=61)).drain(embed=False) == 4
    assert sorted(made) == sorted(TEXTS[:4])


async def test_a_live_worker_keeps_its_claims_through_a_long_batch(db, monkeypatch):
    from storage.claims import CLAIM_TTL
    from storage.items import iso_utc
    monkeypatch.setattr("storage.claims.RENEW_EVERY", timedelta(seconds=0.05))
    await ItemsRepo(db).add_many([parse_statement(t) for t in TEXTS[:4]])
    clock = [utc_now()]
    summarizer = LazySummarizer(SummarizerConfig(model="x", backend="extractive"))
    real = summarizer.summarize
    in_model, may_finish = threading.Event(), threading.Event()

    def slow(texts: list[str]):
        clock[0] += timedelta(minutes=3)  # three minutes of model time: past the claims' first expiry
        in_model.set()
        assert may_finish.wait(10)  # the model runs until the test has seen the claims renewed and kept
        return real(texts)

    summarizer.summarize = slow  # type: ignore[method-assign]
    slow_worker = StatementWorker(db, summarizer, batch_size=4, wall_clock=lambda: clock[0])
    busy = asyncio.create_task(slow_worker.summarize_batch())
    try:
        assert await asyncio.to_thread(in_model.wait, 10)
        renewed = iso_utc(clock[0] + CLAIM_TTL)  # what a renewal during the model's three minutes writes
        for _ in range(500):  # a renewal every 0.05 s: the first comes within a few steps
            if await db.fetchone("SELECT 1 FROM claims WHERE expires_at < ?", (renewed,)) is None:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the claims were never renewed")
        made: list[str] = []
        assert await worker_on(db, made, wall_clock=lambda: clock[0]).drain(embed=False) == 0  # nothing to take
        assert made == []
    finally:
        may_finish.set()
    assert await busy == 4


def test_newsbot_worker_runs_on_its_own_until_stopped(tmp_path):
    env = {**os.environ, "DATABASE_PATH": str(tmp_path / "w.sqlite3"), "SUMMARIZER_BACKEND": "extractive",
           "EMBEDDING_BACKEND": "none", "PYTHONPATH": str(ROOT)}
    source = tmp_path / "statements.jsonl"
    source.write_text("\n".join(f'{{"text": "{t}"}}' for t in TEXTS[:3]), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "bot", "ingest", str(source)], env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "worker", "--poll", "0.2"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        async def summarized() -> int:
            db = await SqliteDatabase.open(tmp_path / "w.sqlite3")
            try:
                return 3 - len(await SummariesRepo(db).missing())
            finally:
                await db.close()

        deadline = time.monotonic() + 60
        while asyncio.run(summarized()) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert asyncio.run(summarized()) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "stopped" in output
