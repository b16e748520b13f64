"""What an operator watches: the Prometheus counters and gauges (bot/metrics_server.py serves them).

Counters are counted where the events happen (each process its own: Prometheus sums them);
the backlogs are read from the database when scraped, so every process reports the same.
One registry per running bot (not the library's global one), so tests can run several.
Imports no aiogram: commands that never talk to Telegram start without it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.statements_stored = Counter("newsdigest_statements_stored", "Statements stored from posts and sources",
                                         registry=r)
        self.source_polls = Counter("newsdigest_source_polls", "Polls of sources, by outcome (new, unchanged, error)",
                                    ["outcome"], registry=r)
        self.digests = Counter("newsdigest_digests", "Digest deliveries finished, by status", ["status"],
                               registry=r)
        self.messages_sent = Counter("newsdigest_messages_sent", "Messages Telegram accepted", registry=r)
        self.telegram_errors = Counter("newsdigest_telegram_errors", "Telegram API errors, by kind", ["kind"],
                                       registry=r)
        self.handler_errors = Counter("newsdigest_handler_errors", "Updates whose handling failed, by update type",
                                      ["update"], registry=r)
        self.job_runs = Counter("newsdigest_job_runs", "Scheduled job runs finished, by job (a flat line: a stuck "
                                "scheduler)", ["job"], registry=r)
        self.search_seconds = Histogram("newsdigest_search_seconds", "Search time, query embedding included",
                                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                                        registry=r)
        self.statements = Gauge("newsdigest_statements", "Statements stored", registry=r)
        self.summary_backlog = Gauge("newsdigest_summary_backlog", "Statements without a summary", registry=r)
        self.embedding_backlog = Gauge("newsdigest_embedding_backlog",
                                       "Statements without a vector from the encoder in use", registry=r)
        self.subscribers = Gauge("newsdigest_subscribers", "Active subscribers", registry=r)

    def telegram_error(self, exc: BaseException) -> None:
        from bot.telegram_errors import kind  # aiogram: loaded by the processes that talk to Telegram

        self.telegram_errors.labels(kind(exc)).inc()

    def store(self, statements: int, summarized: int, embedded: int, subscribers: int) -> None:
        """The gauges of what the store holds (bot/metrics_server.py reads it)."""
        self.statements.set(statements)
        self.summary_backlog.set(max(0, statements - summarized))
        self.embedding_backlog.set(max(0, statements - embedded))
        self.subscribers.set(subscribers)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
