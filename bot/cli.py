"""`newsbot` command line: wiring only; the work is done by the same services the bot uses.

Each command imports what it needs when it runs: `newsbot --help` and `newsbot stats` answer at once, and
only `run` imports aiogram, only the commands that embed or summarize load a model."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import logging
import re
import signal
import sys
from collections.abc import AsyncIterator
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from bot.config import Settings, SettingsError, SetupError, load_settings
from bot.logs import setup_logging
from storage.base import Database, DatabaseUnavailable
from storage.db import open_database

if TYPE_CHECKING:
    from bot.services import Services  # loaded by the commands that use it: --help stays quick

log = logging.getLogger("newsbot")

INGEST_BATCH = 1000


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {value!r}") from None



@contextlib.asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Database]:
    """The configured store, closed however the command ends."""
    db = await open_database(settings.database)
    try:
        yield db
    except BaseException:
        with contextlib.suppress(Exception):  # a store that failed may fail to close too: the first error tells
            await db.close()
        raise
    await db.close()


@contextlib.asynccontextmanager
async def services_of(settings: Settings) -> AsyncIterator[Services]:
    """A command's services over the configured store; closed, and the store with them, however the command
    ends (a failing Services.build included)."""
    from bot.services import Services

    async with opened(settings) as db:
        services = Services.build(settings, db)
        try:
            yield services
        finally:
            await services.close()


async def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bot.ingest import Rejected, read_path
    from storage.items import ItemsRepo
    from storage.statements import NewItem

    added = duplicate = rejected = 0
    batch: list[NewItem] = []
    async with opened(settings) as db:
        items = ItemsRepo(db, settings.zone)

        async def flush() -> None:
            nonlocal added, duplicate
            try:
                results = await items.add_many(batch)
            except Exception as exc:  # the store went away mid-way: what is stored stays, and a rerun skips it
                raise SetupError(
                    f"ingest stopped: the database failed ({type(exc).__name__}: {exc}) after {added} added and "
                    f"{duplicate} duplicates. Those are stored; run the same command again when the database is "
                    "back: statements already stored are counted as duplicates, none is stored twice") from None
            for result in results:
                duplicate += result.duplicate
                added += not result.duplicate
            batch.clear()

        with tqdm(unit=" items", disable=None, file=sys.stderr, mininterval=0.5) as bar:
            for path in args.paths:
                for entry in read_path(path):
                    if isinstance(entry, Rejected):
                        rejected += 1
                        print(f"skipped {entry.where}: {entry.reason}", file=sys.stderr)
                        continue
                    batch.append(entry)
                    bar.update()
                    if len(batch) >= INGEST_BATCH:
                        await flush()
            await flush()
    print(f"added {added}, duplicates {duplicate}, rejected {rejected}")
    return 0 if added or duplicate or not rejected else 1


async def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    async with services_of(settings) as services:  # the graph built for this search is kept however it ends
        await services.search.prepare()
        page = await services.search.find(args.query, limit=args.limit, offset=args.offset, date_from=args.date_from,
                                   date_to=args.date_to)
    if args.json:
        print(json.dumps([{"id": h.item_id, "date": h.statement_date.isoformat(), "title": h.title,
                           "snippet": h.snippet, "marks": h.marks, "by_meaning": h.by_meaning} for h in page.hits],
                         ensure_ascii=False, indent=1))
        return 0
    if not page.hits:
        print("nothing found")
        return 0
    bold = (lambda s: f"\033[1m{s}\033[0m") if sys.stdout.isatty() else (lambda s: f"**{s}**")
    for hit in page.hits:
        title = f" {hit.title}" if hit.title else ""
        meaning = " (by meaning)" if hit.by_meaning else ""
        print(f"#{hit.item_id} {hit.statement_date.isoformat()}{meaning}{title}\n  {hit.render(bold)}\n")
    if page.has_more:
        print(f"more: --offset {args.offset + args.limit}")
    return 0


async def cmd_copy(settings: Settings, args: argparse.Namespace) -> int:
    """Everything stored, into another (new) database: the move from the SQLite file to PostgreSQL."""
    from tqdm import tqdm

    from storage.copy import TargetNotEmpty, copy_store

    async with opened(settings) as source:
        target = await open_database(args.to)
        try:
            with tqdm(unit=" rows", disable=None, file=sys.stderr, mininterval=0.5) as bar:
                def progress(table: str, rows: int) -> None:
                    bar.set_description(table, refresh=False)
                    bar.update(rows)
                counts = await copy_store(source, target, progress)
        except TargetNotEmpty as exc:
            print(f"not copied: {exc}", file=sys.stderr)
            return 2
        finally:
            await target.close()
    print(", ".join(f"{table} {n}" for table, n in counts.items()))
    return 0


async def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from storage.embeddings import EmbeddingsRepo
    from storage.items import ItemsRepo
    from storage.summaries import SummariesRepo

    async with opened(settings) as db:
        stats = await ItemsRepo(db).stats()
        stats["summaries"] = await SummariesRepo(db).count_by_method()
        stats["embeddings"] = await EmbeddingsRepo(db).count_by_model()
    stats["database"] = settings.database_name
    print(json.dumps(stats, ensure_ascii=False, indent=1))
    return 0


async def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services import statement_worker
    from digest.maker import DigestMaker
    from digest.render import continuation
    from meaning.encoder import LazyEncoder
    from storage.items import ItemsRepo

    async with opened(settings) as db:
        if args.date:
            first = last = args.date
        elif args.date_from or args.date_to:
            first = args.date_from or args.date_to
            last = args.date_to or args.date_from
        else:
            first = last = await ItemsRepo(db).latest_statement_date() or date.today()
        if first > last:
            print("--from is after --to", file=sys.stderr)
            return 2
        worker = statement_worker(settings, db)
        await worker.drain(embed=False)
        # Stories are grouped by meaning where `newsbot process` has embedded the statements.
        maker = DigestMaker(db, settings.digest_max_stories, LazyEncoder(settings.encoder_config()))
        digest = await maker.for_dates(first, last)
        messages = list(digest.messages)
        if args.all and digest.more:
            rest = await maker.entries(digest.id, digest.shown, digest.more)
            messages += continuation(digest.title, rest, digest.shown, digest.story_count)
    for message in messages:
        print(message if args.print else html_to_text(message), end="\n\n")
    return 0


def html_to_text(message: str) -> str:
    """A digest's Telegram HTML for a terminal: bold and italics dropped, a link as its text and address."""
    message = re.sub(r'<a href="([^"]*)">(.*?)</a>', r"\2 (\1)", message)
    return html.unescape(re.sub(r"</?[bi]>", "", message))


async def cmd_model(settings: Settings, args: argparse.Namespace) -> int:
    """Download or convert SUMMARIZER_MODEL, and HEADLINE_MODEL when one is set."""
    models = [c for c in (settings.summarizer_config(), settings.headline_config()) if c]
    for config in models:
        if args.action == "download":
            from huggingface_hub import snapshot_download
            try:
                path = snapshot_download(config.model)
            except Exception as exc:
                print(f"cannot download {config.model}: {type(exc).__name__}: {exc}", file=sys.stderr)
                return 1
            print(f"downloaded {config.model} to {path}")
            continue
        from summarizer.backends.seq2seq import convert_to_ctranslate2
        try:
            out = await asyncio.to_thread(convert_to_ctranslate2, config.model, config.ct2_dir)
        except Exception as exc:
            print(f"cannot convert {config.model}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(f"converted {config.model} to {out} (CTranslate2, int8)")
    return 0


async def cmd_process(settings: Settings, args: argparse.Namespace) -> int:
    """Work the whole backlog: every missing summary and embedding, with a progress bar."""
    from tqdm import tqdm

    async with services_of(settings) as services:
        worker = services.worker
        if args.command == "reindex":
            print(f"dropped {await worker.embeddings.forget(None)} embeddings", file=sys.stderr)
        # The encoder's name, without loading it: the worker loads it when there is something to embed.
        encoder = await asyncio.to_thread(worker.encoder.calibration) if worker.encoder else None
        backlog = len(await worker.summaries.missing(10**9))
        if encoder is not None:
            backlog += len(await worker.embeddings.missing(encoder.name, 10**9))
        with tqdm(total=backlog, unit=" items", disable=None, file=sys.stderr, mininterval=0.5) as bar:
            done = await worker.drain(bar.update)
        summaries = await worker.summaries.count_by_method()
        embeddings = await worker.embeddings.count_by_model()
    print(f"processed {done}; summaries {summaries}; embeddings {embeddings or 'none (no encoder)'}")
    return 0


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.bot_token.get_secret_value():
        print("BOT_TOKEN is not set: get one from @BotFather and put it in .env", file=sys.stderr)
        return 2
    if args.webhook and not (settings.webhook_url and settings.webhook_secret.get_secret_value()):
        print("--webhook needs WEBHOOK_URL (the public URL the Bot API posts to) and WEBHOOK_SECRET", file=sys.stderr)
        return 2
    from bot.app import run_bot  # aiogram is imported only when the bot runs
    await run_bot(settings, webhook=args.webhook, worker=not args.no_worker)
    return 0


async def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Summaries and embeddings in a process of its own, beside `newsbot run --no-worker`, until SIGTERM or
    SIGINT. Any number of them may share the database: each batch is claimed first. With METRICS_LISTEN,
    it serves /metrics and /healthz too (the image's health check reads /healthz)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with services_of(settings) as services:
        worker = services.worker
        worker.poll_seconds = args.poll
        metrics_runner = None
        worker.start()
        log.info("worker %s on %s: looking for new statements every %.1f s", worker.holder, settings.database_name,
                 args.poll)
        try:
            if settings.metrics_listen:
                from bot.metrics_server import serve_metrics
                metrics_runner = await serve_metrics(services, settings.metrics_listen)
            await stop.wait()
        finally:
            await worker.stop()  # a batch cut short is released (or its claim expires) and made again
            if metrics_runner:
                await metrics_runner.cleanup()
    log.info("worker %s stopped", worker.holder)
    return 0


async def cmd_sources(settings: Settings, args: argparse.Namespace) -> int:
    """Feeds and channels: add (checked at once), list, remove, pause, resume, or poll the due ones now."""
    from sources.poller import SourceError

    async with services_of(settings) as services:
        poller = services.sources
        if args.action == "add":
            try:
                added = await poller.add(args.target, added_by=None)
            except SourceError as exc:
                print(f"not added: {exc}", file=sys.stderr)
                return 2
            s = added.source
            print(f"{'added' if added.new else 'already added'}: #{s.id} {s.kind} {s.title!r} {s.url}\n"
                  f"  {added.feed.total} entries, {added.stored} new statements stored")
        elif args.action == "list":
            found = await poller.sources.all()
            if not found:
                print("no sources yet: `newsbot sources add URL` adds a feed, a site with a feed or a @channel")
            for s in found:
                state = "paused" if s.paused else f"next poll {s.next_poll_at:%Y-%m-%d %H:%M} UTC"
                ok = f"{s.last_success_at:%Y-%m-%d %H:%M}" if s.last_success_at else "never"
                error = f", last error: {s.last_error}" if s.last_error else ""
                print(f"#{s.id} {s.kind} {s.title!r} {s.url}\n  {s.statements} statements, last success {ok},"
                      f" {state}{error}")
        elif args.action == "poll":
            results = await poller.poll_due()
            for r in results:
                print(f"#{r.source_id}: " + (f"error: {r.error}" if r.error else "not modified" if r.not_modified
                                             else f"{r.stored} new, {r.known} known"))
            print(f"{len(results)} sources polled, {sum(r.stored for r in results)} new statements")
            if any(r.stored for r in results):
                print("summaries: `newsbot process` makes them now, the bot in the background")
        else:
            number = _source_number(args.target)
            if number is None:
                print("give the source's number, as `newsbot sources list` shows it", file=sys.stderr)
                return 2
            done = (await poller.sources.remove(number) if args.action == "remove"
                    else await poller.sources.set_paused(number, args.action == "pause", poller.clock()))
            if not done:
                print(f"no source #{number}", file=sys.stderr)
                return 1
            print(f"#{number} {args.action}d")
    return 0


def _source_number(text: str | None) -> int | None:
    text = (text or "").strip().lstrip("#")
    return int(text) if text.isdigit() else None


def _version() -> str:
    try:
        return version("newsdigest")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbot", description="Russian news digests for Telegram.")
    parser.add_argument("--version", action="version", version=f"newsbot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="store statements from .txt/.jsonl files, folders or - (stdin)")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="full-text search with Russian morphology")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--from", dest="date_from", type=_date)
    p.add_argument("--to", dest="date_to", type=_date)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("copy", help="copy everything stored into another, new database (e.g. to PostgreSQL)")
    p.add_argument("--to", required=True, metavar="URL", help="postgresql://user:password@host/name or a SQLite path")
    p.set_defaults(func=cmd_copy)

    p = sub.add_parser("stats", help="what is stored")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("digest", help="print the digest of a day (default: the latest day with statements)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--date", type=_date)
    when.add_argument("--from", dest="date_from", type=_date)
    p.add_argument("--to", dest="date_to", type=_date)
    p.add_argument("--print", action="store_true", help="print Telegram HTML as it would be sent")
    p.add_argument("--all", action="store_true", help="every story, not only the first DIGEST_MAX_STORIES")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser("model", help="fetch the summarization model or make its CTranslate2 copy")
    p.add_argument("action", choices=["download", "convert"])
    p.set_defaults(func=cmd_model)

    p = sub.add_parser("process", help="make every missing summary and embedding now, then exit")
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("reindex", help="drop all embeddings and make them again with the configured encoder")
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("sources", help="feeds and public channels that post by themselves")
    p.add_argument("action", choices=["add", "list", "remove", "pause", "resume", "poll"])
    p.add_argument("target", nargs="?", help="add: a feed, page or channel (URL or @name); remove/pause/resume: N")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("run", help="start the Telegram bot (long polling, or --webhook)")
    p.add_argument("--webhook", action="store_true",
                   help="take updates posted to WEBHOOK_URL (served on WEBHOOK_LISTEN) instead of long polling")
    p.add_argument("--no-worker", action="store_true",
                   help="make no summaries or embeddings here: `newsbot worker` processes do")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("worker", help="make summaries and embeddings as they are needed, until stopped")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between looks for new statements")
    p.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.secrets)
    try:
        return asyncio.run(args.func(settings, args))
    except KeyboardInterrupt:
        return 130
    except (DatabaseUnavailable, SetupError) as exc:  # one line naming what to fix, no traceback
        log.error("%s", exc)
        return 3
    except Exception:  # through the redacting log, not Python's raw traceback
        log.exception("%s failed", args.command)
        return 1
