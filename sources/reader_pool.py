"""Fetched documents are read in worker processes of their own, each within a CPU budget.

A feed's body is untrusted input, and its parsers (feedparser, html.parser, regular expressions) are Python
code that holds the GIL: parsed in a thread, a pathological body would stall the event loop and the shared
thread pool behind every reply and search. Here a body costs a worker's CPU, never the bot's; the workers are
few (a bounded pool of their own), and a document that takes more than its budget is refused: the worker is
interrupted by a timer, or killed by the kernel at its CPU limit if the timer cannot reach it (C code), and
the pool is started again."""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import resource
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from sources.feeds import Feed, read_feed

log = logging.getLogger(__name__)

BUDGET_S = 20.0  # CPU seconds for one document: a 5 MB feed takes about 2 on a small server


class TooHeavy(Exception):
    """A document its reader could not finish within the budget; the message is for admins."""


def too_heavy(budget_s: float) -> str:
    return f"документ не разобран за {budget_s:g} с процессора — слишком тяжёлый или враждебный"


class _OverBudget(Exception):
    pass


def _over_budget(signum: int, frame: object) -> None:
    raise _OverBudget


def _worker_started() -> None:
    signal.signal(signal.SIGPROF, _over_budget)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a worker killed at its CPU limit leaves no core file


def _read_within(budget_s: float, body: bytes, content_type: str, url: str, post_base: str) -> Feed:
    """In a worker: read_feed, interrupted after `budget_s` CPU seconds (a timer that Python code and the
    regex engine heed); the kernel kills the worker at twice that if the timer is not heeded."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = math.ceil(spent + 2 * budget_s + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    signal.setitimer(signal.ITIMER_PROF, budget_s)  # CPU time of this process: a busy machine does not count
    try:
        return read_feed(body, content_type, url, post_base)
    except _OverBudget:
        raise TooHeavy(too_heavy(budget_s)) from None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


class ReaderPool:
    """`read_feed` in `workers` processes (started on first use, from a clean interpreter: not a fork of the
    bot with its models and threads)."""

    def __init__(self, workers: int = 1, budget_s: float = BUDGET_S) -> None:
        self.workers = workers
        self.budget_s = budget_s
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"),
                                             initializer=_worker_started)
        return self._pool

    async def read_feed(self, body: bytes, content_type: str, url: str, post_base: str) -> Feed:
        """The feed in a document, or NotAFeed; TooHeavy when it cannot be read within the budget."""
        for _ in range(2):
            pool = self._executor()
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    pool, _read_within, self.budget_s, body, content_type, url, post_base)
            except BrokenProcessPool:
                # A worker was killed at its CPU limit: this document's or another's in the same pool. The pool
                # starts again and the document is tried once more, so only the heavy one is refused.
                log.warning("a feed reader process died (reading %s); starting the readers again", url)
                if self._pool is pool:
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
        raise TooHeavy(too_heavy(self.budget_s))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
