"""Digest fan-out within Telegram's limits; the delivery log makes every digest go out once.

A digest is claimed in the log (unique per chat and local day) before anything is sent,
referencing the digest rendered once for everyone with the same period; each part sent is
recorded at once. A crash or restart resumes pending deliveries from the next unsent part,
and a second trigger finds the slot taken. Only the process holding the "fanout" lease
sends: a second instance on the same database (a restart overlap, a double deploy) waits,
and takes over when the holder stops renewing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup

from bot.channels import lose_channel
from bot.keyboards import channel_more, digest_more
from bot.middlewares import own_flood_control
from bot.services import Services
from bot.slots import Slot, due_slot, manual_slot
from bot.telegram_errors import TRANSIENT, means_no_rights
from storage.deliveries import Delivery
from storage.leases import Lease, LeasesRepo
from storage.subscribers import Subscriber

log = logging.getLogger(__name__)

NETWORK_RETRIES = 5  # backoff 1, 2, 4, 8, 16 s; then the delivery waits for the next tick
GROUP_INTERVAL_S = 3.0  # Telegram: about 20 messages a minute in a group
CHAT_INTERVAL_S = 1.0  # about one message a second in a private chat
# Pace a little under DELIVERY_RATE: network jitter can bunch requests up on the way, and
# Telegram counts arrivals; 5% headroom keeps every one-second window at or below the cap.
RATE_HEADROOM = 0.95
LEASE_NAME = "fanout"

Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Spaces message starts at least 1/rate apart across all chats; a 429 pauses everyone."""

    LATE_RETRIES = 3  # a sender woken late takes a new start at most this often

    def __init__(self, rate: float, sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()
        self._sleep = sleep
        self._clock = clock

    async def wait(self) -> None:
        for _ in range(self.LATE_RETRIES):
            async with self._lock:
                now = self._clock()
                start = max(now, self._next)
                self._next = start + self.interval
            await self._sleep(start - now)
            # Woken late (the event loop was busy, e.g. preparing the next digests): every sender due meanwhile
            # would start at once, above the rate. A late one takes the next free start instead.
            if self._clock() - start < self.interval / 2:
                return

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, self._clock() + seconds)


@dataclass
class FanoutReport:
    counts: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    seconds: float = 0.0
    busy_with: str | None = None  # another process holds the fan-out lease

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1

    def describe(self) -> str:
        if self.busy_with:
            return "рассылку ведёт другой запущенный экземпляр бота: он отправит дайджесты в течение минуты"
        names = {"sent": "отправлено", "empty": "без новостей", "blocked": "заблокировали бота",
                 "failed": "ошибка", "deferred": "отложено", "taken": "уже получили сегодня"}
        parts = [f"{names.get(k, k)}: {v}" for k, v in sorted(self.counts.items())] or ["подписчиков нет"]
        return ", ".join(parts) + f"; сообщений {self.messages} за {self.seconds:.1f} с"


class Fanout:
    def __init__(self, bot: Bot, services: Services, *, concurrency: int = 0, sleep: Sleep = asyncio.sleep,
                 lease: Lease | None = None) -> None:
        self.bot = bot
        self.services = services
        self.limiter = RateLimiter(services.settings.delivery_rate * RATE_HEADROOM, sleep)
        # Enough requests in flight to keep the rate with ~1 s Bot API latency.
        self.concurrency = concurrency or max(4, int(services.settings.delivery_rate * 2))
        self.lease = lease or Lease(LeasesRepo(services.db), LEASE_NAME)
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._chat_next: dict[int, float] = {}  # when each chat may get its next message (pruned after a run)
        self._store_failed_at = float("-inf")  # monotonic time the store last failed a sender
        self._channels: set[int] = set()  # chats that are channels (read at each run)

    async def tick(self) -> None:
        """The scheduler's job: send every digest that is due."""
        try:
            await self.run(datetime.now().astimezone())
        except Exception:
            log.exception("digest tick failed")

    async def run(self, now: datetime, *, manual: bool = False) -> FanoutReport:
        """Send what is pending, and claim due digests (all active subscribers when manual), each sent as soon
        as it is claimed: the first subscriber does not wait for the last one's digest to be prepared."""
        # A task of its own: the flag below stays inside the fan-out, not in the caller's context.
        return await asyncio.create_task(self._run(now, manual))

    async def _run(self, now: datetime, manual: bool) -> FanoutReport:
        own_flood_control.set(True)  # the fan-out handles 429 for all its sends itself
        async with self._lock:  # one fan-out at a time in this process; the lease: in all processes
            report = FanoutReport()
            if not await self.lease.keep():
                if manual:  # claimed here (the delivery log is shared), sent by the holder at its next tick
                    await self._claim_due(now, manual, report)
                report.busy_with = await self.lease.repo.holder(self.lease.name, now) or "?"
                log.info("digest fan-out: another process (%s) holds the lease", report.busy_with)
                return report
            started = time.monotonic()
            self._channels = {channel.chat_id for channel in await self.services.channels.all()}
            queue: asyncio.Queue[Delivery | None] = asyncio.Queue()
            queued: set[int] = set()

            def enqueue(delivery: Delivery) -> None:
                if delivery.id not in queued:
                    queued.add(delivery.id)
                    queue.put_nowait(delivery)

            for delivery in await self.services.deliveries.pending():  # left by a stop or another holder
                enqueue(delivery)

            async def sender() -> None:
                while (delivery := await queue.get()) is not None:
                    status = await self._send(delivery, report)
                    report.add(status)
                    self.services.metrics.digests.labels(status).inc()

            senders = [asyncio.create_task(sender()) for _ in range(self.concurrency)]
            try:
                await self._claim_due(now, manual, report, enqueue)
                # Claimed meanwhile by a process without the lease (an admin's /senddigest there): sent here.
                for delivery in await self.services.deliveries.pending():
                    enqueue(delivery)
            finally:
                for _ in senders:
                    queue.put_nowait(None)  # each sender stops after the queue's deliveries
                failed = [r for r in await asyncio.gather(*senders, return_exceptions=True) if r is not None]
            if failed:  # a delivery that failed unexpectedly (the database, say): the tick logs it; it stays pending
                raise failed[0]
            report.seconds = time.monotonic() - started
            moment = time.monotonic()
            self._chat_next = {chat: at for chat, at in self._chat_next.items() if at > moment}
            if report.counts:
                rate = report.messages / report.seconds if report.seconds else 0.0
                log.info("digest fan-out: %s; %d messages in %.1f s (%.1f msg/s)",
                         ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())), report.messages,
                         report.seconds, rate)
            return report

    async def _claim_due(self, now: datetime, manual: bool, report: FanoutReport,
                         enqueue: Callable[[Delivery], None] | None = None) -> None:
        """Claim each due subscriber's digest in the delivery log; `enqueue` queues each one for the senders."""
        settings = self.services.settings
        catch_up = timedelta(hours=settings.digest_catch_up_hours)
        due: dict[int, tuple[Subscriber, Slot]] = {}
        for sub in await self.services.subscribers.active():
            slot = manual_slot(sub, now) if manual else due_slot(sub, now, catch_up)
            if slot is not None:
                due[sub.chat_id] = (sub, slot)
        slots = {chat: slot.key for chat, (_, slot) in due.items()}
        taken = await self.services.deliveries.slots_taken(slots)
        prefs = await self.services.preferences.for_chats(list(due))
        # Subscribers with the same period and the same filters share a digest (kept here by id and size only:
        # ten thousand subscribers with filters of their own must not keep ten thousand first pages in memory).
        cache: dict[tuple, tuple[int, int]] = {}
        for chat, (sub, slot) in due.items():
            if chat in taken:
                if manual:
                    report.add("taken")
                continue
            start, moment = sub.last_digest_at or slot.previous, slot.moment
            key = (start, moment, slots[chat], prefs[chat].signature)
            if key not in cache:
                digest, count = await self.services.digest_maker.for_arrivals(
                    start, moment, date.fromisoformat(slots[chat][:10]), prefs[chat])
                cache[key] = (digest.id, count)
            digest_id, count = cache[key]
            skip = count == 0 and settings.digest_skip_empty
            claimed = await self.services.deliveries.claim(chat, slots[chat], start, moment,
                                                           None if skip else digest_id)
            if claimed and claimed.status == "empty":
                report.add("empty")
                self.services.metrics.digests.labels("empty").inc()
            elif claimed and enqueue:
                enqueue(claimed)

    async def _pace_chat(self, chat_id: int) -> None:
        interval = GROUP_INTERVAL_S if chat_id < 0 else CHAT_INTERVAL_S
        now = time.monotonic()
        start = max(now, self._chat_next.get(chat_id, 0.0))
        self._chat_next[chat_id] = start + interval
        await self._sleep(start - now)

    async def _send(self, delivery: Delivery, report: FanoutReport) -> str:
        """Send the remaining parts of one digest; the final status (or 'deferred' to retry later)."""
        deliveries = self.services.deliveries
        part = delivery.parts_sent
        failures = 0
        while part < len(delivery.messages):
            # The lease and the store first: their answers may wait on the database while every other sender
            # waits on it, and a start the limiter gave them before that wait would be spent all at once after
            # it (a burst).
            if not await self._may_send(delivery, part):
                return "deferred"
            checked = time.monotonic()
            await self._pace_chat(delivery.chat_id)
            await self.limiter.wait()
            if self._store_failed_at >= checked:  # the store failed another sender meanwhile: ask it again
                continue
            markup = await self._more(delivery) if part == len(delivery.messages) - 1 else None
            try:
                await self.bot.send_message(delivery.chat_id, delivery.messages[part], reply_markup=markup)
            except TelegramRetryAfter as exc:
                log.warning("429 from Telegram: pausing all sends for %s s", exc.retry_after)
                self.limiter.pause(exc.retry_after)
                continue
            except TelegramForbiddenError as exc:
                if delivery.chat_id in self._channels:
                    await lose_channel(self.bot, self.services, delivery.chat_id, exc.message)
                else:
                    log.info("chat %s blocked the bot: unsubscribed", delivery.chat_id)
                await deliveries.finish(delivery, "blocked", exc.message)
                return "blocked"
            except TelegramBadRequest as exc:
                log.warning("digest to %s rejected: %s", delivery.chat_id, exc.message)
                if delivery.chat_id in self._channels and means_no_rights(exc.message):  # not tried again
                    await lose_channel(self.bot, self.services, delivery.chat_id, exc.message)
                await deliveries.finish(delivery, "failed", exc.message)
                return "failed"
            except TRANSIENT as exc:
                failures += 1
                if failures > NETWORK_RETRIES:
                    log.warning("digest to %s deferred after %d network errors: %s", delivery.chat_id,
                                failures, exc)
                    return "deferred"
                await self._sleep(2 ** (failures - 1))
                continue
            part += 1
            report.messages += 1
            await self._record(delivery, part)
        await deliveries.finish(delivery, "sent")
        return "sent"

    async def _more(self, delivery: Delivery) -> InlineKeyboardMarkup | None:
        """The last part's way to the other stories: a button in a chat; in a channel, where a reader's press
        would post them to everyone, a link to read them in the bot."""
        if delivery.chat_id in self._channels:
            me = await self.bot.me()
            return channel_more(me.username or "", delivery.digest_id, delivery.shown, delivery.story_count)
        return digest_more(delivery.digest_id, delivery.shown, delivery.story_count, chat_id=delivery.chat_id,
                           key=self.services.settings.button_key)

    async def _may_send(self, delivery: Delivery, part: int) -> bool:
        """This process holds the lease and the store, read now, has the delivery waiting for this part. A
        store that cannot answer gets nothing sent: the delivery stays pending for the next tick."""
        try:
            if not await self.lease.keep():  # another process took over: it sends the rest
                log.warning("fan-out lease lost: leaving the digest to %s for its new holder", delivery.chat_id)
                return False
            return await self.services.deliveries.still_due(delivery.id, part)
        except Exception as exc:
            self._store_failed(exc)
            return False

    async def _record(self, delivery: Delivery, parts_sent: int) -> None:
        """Record a part Telegram took, retrying while the store is away: unrecorded, it would be sent again.
        Retried for half the lease at most (the lease outlives that, so no other process can take over and
        send the part meanwhile); after that the error is raised and the part may go out twice."""
        waited, wait = 0.0, 0.5
        while True:
            try:
                await self.services.deliveries.part_sent(delivery.id, parts_sent)
                return
            except Exception as exc:
                self._store_failed(exc)
                if waited + wait > self.lease.ttl / 2:
                    raise
            await self._sleep(wait)
            waited, wait = waited + wait, min(wait * 2, 8.0)

    def _store_failed(self, exc: Exception) -> None:
        if self._store_failed_at < time.monotonic() - 5:  # said once an outage, not by every sender
            log.warning("digest fan-out: the store did not answer (%s); sends wait for it", exc)
        self._store_failed_at = time.monotonic()

    async def wait_idle(self, timeout: float) -> None:
        """On shutdown: let a running fan-out finish, then hand the lease on at once; whatever is left
        stays pending for the next holder."""
        self.lease.stop()  # no new sends from here on
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout)
        except TimeoutError:  # sends may still be in flight: the lease row expires on its own
            return
        self._lock.release()
        with contextlib.suppress(Exception):
            await self.lease.release()
