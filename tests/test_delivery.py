"""Digest fan-out: exactly once (also across processes), Telegram errors, due times and catch-up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import SendMessage

from bot.config import load_settings
from bot.delivery import Fanout, RateLimiter
from bot.keyboards import DigestMoreCb
from bot.services import Services
from bot.slots import due_slot
from storage.digests import DigestsRepo
from storage.leases import Lease, LeasesRepo
from storage.statements import parse_statement
from storage.subscribers import Subscriber
from tests import postgres_server
from tests.helpers import NOW, FakeBot, instant, subscribe

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL



@pytest.fixture
async def env(db):
    settings = load_settings(summarizer_backend="extractive", digest_skip_empty=True)
    services = Services.build(settings, db)
    bot = FakeBot()
    fanout = Fanout(bot, services, sleep=instant)
    await services.items.add(parse_statement("Курс рубля укрепился на торгах."), now=NOW - timedelta(hours=2))
    return services, bot, fanout


def sub(at="09:00", tz="Europe/Moscow", joined=NOW - timedelta(days=3)) -> Subscriber:
    return Subscriber(1, True, at, tz, None, joined)


def test_due_slot_in_the_subscribers_own_time_zone():
    assert due_slot(sub("09:00"), NOW, timedelta(hours=12)).moment == datetime(2025, 8, 9, 6, 0, tzinfo=UTC)
    assert due_slot(sub("10:00"), NOW, timedelta(hours=12)) is None  # not yet: yesterday's is 23.5 h old
    # 16:30 in Vladivostok: today's 09:00 there is 7.5 h late, inside a 12 h grace, outside a 6 h one.
    assert due_slot(sub("09:00", "Asia/Vladivostok"), NOW, timedelta(hours=12)).moment == datetime(
        2025, 8, 8, 23, 0, tzinfo=UTC)
    assert due_slot(sub("09:00", "Asia/Vladivostok"), NOW, timedelta(hours=6)) is None


def test_missed_digest_is_caught_up_only_within_the_grace_period():
    assert due_slot(sub("23:50"), datetime(2025, 8, 9, 21, 5, tzinfo=UTC), timedelta(hours=12)) is not None
    assert due_slot(sub("09:00"), NOW + timedelta(hours=13), timedelta(hours=12)) is None


def test_no_digest_for_a_time_before_the_subscriber_joined():
    assert due_slot(sub("09:00", joined=NOW - timedelta(minutes=10)), NOW, timedelta(hours=12)) is None


async def test_due_digest_is_sent_once_even_if_triggered_twice(env):
    services, bot, fanout = env
    await subscribe(services, 10)
    await subscribe(services, 11, at="10:00")
    first = await fanout.run(NOW)
    second = await fanout.run(NOW + timedelta(minutes=1))
    assert [c for c, _ in bot.sent] == [10]
    assert bot.sent[0][1].startswith("<b>Дайджест за 9 августа 2025</b>")
    assert first.counts == {"sent": 1} and second.counts == {}
    assert (await services.subscribers.get(10)).last_digest_at == datetime(2025, 8, 9, 6, 0, tzinfo=UTC)


async def test_next_day_digest_holds_only_what_arrived_since(env):
    services, bot, fanout = env
    await subscribe(services, 10)
    await fanout.run(NOW)
    await services.items.add(parse_statement("Школы готовы к учебному году."), now=NOW + timedelta(hours=3))
    await fanout.run(NOW + timedelta(days=1))
    assert len(bot.sent) == 2
    assert "Школы" in bot.sent[1][1] and "рубля" not in bot.sent[1][1]


async def test_empty_day_sends_nothing_but_moves_on(env):
    services, bot, fanout = env
    await subscribe(services, 10)
    await fanout.run(NOW)
    report = await fanout.run(NOW + timedelta(days=1))
    assert len(bot.sent) == 1 and report.counts == {"empty": 1}


async def test_empty_day_sends_a_line_when_configured(env):
    services, bot, fanout = env
    services.settings = load_settings(summarizer_backend="extractive", digest_skip_empty=False)
    await subscribe(services, 10)
    await fanout.run(NOW)
    await fanout.run(NOW + timedelta(days=1))
    assert "Новостей за этот период нет" in bot.sent[1][1]


async def test_retry_after_pauses_and_resends(env):
    services, bot, fanout = env
    await subscribe(services, 10)
    bot.script[10] = [TelegramRetryAfter(SendMessage(chat_id=10, text="x"), "flood", retry_after=3)]
    paused = []
    original = fanout.limiter.pause
    fanout.limiter.pause = lambda s: (paused.append(s), original(s))
    report = await fanout.run(NOW)
    assert paused == [3] and report.counts == {"sent": 1} and len(bot.sent) == 1


async def test_blocked_bot_unsubscribes_the_user(env):
    services, bot, fanout = env
    await subscribe(services, 10)
    bot.script[10] = [TelegramForbiddenError(SendMessage(chat_id=10, text="x"), "bot was blocked by the user")]
    report = await fanout.run(NOW)
    assert report.counts == {"blocked": 1}
    assert not (await services.subscribers.get(10)).active


async def test_network_errors_are_retried_then_deferred_to_the_next_tick(env):
    services, bot, fanout = env
    await subscribe(services, 10)
    await subscribe(services, 11)
    net = [TelegramNetworkError(SendMessage(chat_id=10, text="x"), "connection reset") for _ in range(10)]
    bot.script[10] = net[:2]
    bot.script[11] = net[2:]  # eight failures: more than NETWORK_RETRIES
    report = await fanout.run(NOW)
    assert report.counts == {"sent": 1, "deferred": 1}
    assert [c for c, _ in bot.sent] == [10]
    report = await fanout.run(NOW + timedelta(minutes=1))  # the network is back
    assert report.counts == {"sent": 1}
    assert sorted(c for c, _ in bot.sent) == [10, 11]


async def test_crash_mid_digest_resumes_from_the_next_part(env):
    services, bot, fanout = env
    await subscribe(services, 10)
    digest = await DigestsRepo(services.db).put("k", "<b>Дайджест</b>", ["часть 1", "часть 2", "часть 3"],
                                                ["• a", "• b"], 2)
    claimed = await services.deliveries.claim(10, "2025-08-09", NOW - timedelta(days=1), NOW, digest.id)
    await services.deliveries.part_sent(claimed.id, 1)  # the process died after part 1
    await fanout.wait_idle(1)  # ... and its lease went with it
    restarted = Fanout(bot, services, sleep=instant)
    await restarted.run(NOW)
    assert bot.sent == [(10, "часть 2"), (10, "часть 3")]


async def test_manual_send_takes_todays_slot(env):
    services, bot, fanout = env
    await subscribe(services, 10)
    report = await fanout.run(NOW - timedelta(hours=1), manual=True)  # 08:30 Moscow, before the schedule
    assert report.counts == {"sent": 1}
    assert (await fanout.run(NOW)).counts == {}  # 09:00's digest of the same day was that one
    again = await fanout.run(NOW, manual=True)
    assert again.counts == {"taken": 1} and len(bot.sent) == 1


async def test_rate_limiter_holds_the_rate_after_the_event_loop_stalls():
    """Senders whose starts fell inside a stall must not all start when it ends (a burst above the rate)."""
    clock = [0.0]
    waiting: list[tuple[float, asyncio.Future]] = []
    starts: list[float] = []

    async def sleep(seconds):  # virtual time: wakes when the driver's clock passes the target
        future = asyncio.get_running_loop().create_future()
        waiting.append((clock[0] + max(seconds, 0.0), future))
        await future

    async def drive():
        for step in range(600):
            for _ in range(5):
                await asyncio.sleep(0)  # let every waiter reach its sleep
            clock[0] += 1.0 if step == 40 else 0.01  # one stall of a second, a quarter of the way
            for target, future in [w for w in waiting if w[0] <= clock[0]]:
                waiting.remove((target, future))
                future.set_result(None)

    limiter = RateLimiter(10, sleep=sleep, clock=lambda: clock[0])

    async def send():
        await limiter.wait()
        starts.append(clock[0])

    await asyncio.gather(drive(), *(send() for _ in range(30)))
    assert len(starts) == 30
    worst = max(sum(1 for t in starts if s <= t < s + 1.0 - 1e-9) for s in starts)  # float steps aside
    assert worst <= 10, [round(t, 3) for t in sorted(starts)]


async def test_rate_limiter_holds_the_rate_through_repeated_stalls():
    """A busy event loop stalls again and again (a quarter of a second every 0.3 s, as while preparing
    digests); the senders it wakes late must not make up for the lost starts all at once."""
    clock = [0.0]
    waiting: list[tuple[float, asyncio.Future]] = []
    starts: list[float] = []

    async def sleep(seconds):
        future = asyncio.get_running_loop().create_future()
        waiting.append((clock[0] + max(seconds, 0.0), future))
        await future

    finished = []

    async def drive():
        step = 0
        while len(finished) < 50:
            for _ in range(5):
                await asyncio.sleep(0)
            step += 1
            clock[0] += 0.25 if step % 10 == 0 else 0.005
            for target, future in [w for w in waiting if w[0] <= clock[0]]:
                waiting.remove((target, future))
                future.set_result(None)

    limiter = RateLimiter(25, sleep=sleep, clock=lambda: clock[0])

    async def sender():
        for _ in range(3):
            await limiter.wait()
            starts.append(clock[0])
        finished.append(True)

    await asyncio.gather(drive(), *(sender() for _ in range(50)))
    worst = max(sum(1 for t in starts if s <= t < s + 1.0 - 1e-9) for s in starts)
    assert worst <= 25, [round(t, 3) for t in sorted(starts)]


async def test_rate_limiter_spaces_starts_and_pauses():
    clock = [100.0]  # a clock that stands still: every wait is the limiter's own spacing
    starts = []

    async def record(seconds):  # when each send would start
        starts.append(clock[0] + seconds)

    limiter = RateLimiter(50, sleep=record, clock=lambda: clock[0])
    await asyncio.gather(*(limiter.wait() for _ in range(10)))
    limiter.pause(5)
    await limiter.wait()
    assert [round(b - a, 9) for a, b in zip(starts, starts[1:-1], strict=False)] == [0.02] * 9  # 1/rate apart
    assert starts[-1] == 105.0  # a 429 holds everyone back


async def test_a_big_digest_ends_with_a_button_for_the_rest(env):
    services, bot, fanout = env
    services.digest_maker.max_stories = 2
    for topic in ("Школы готовы к учебному году.", "В Казани открыли станцию метро.", "Синоптики обещают жару.",
                  "Футболисты выиграли кубок."):
        await services.items.add(parse_statement(topic), now=NOW - timedelta(hours=1))
    await subscribe(services, 10)
    await fanout.run(NOW)
    assert "…и ещё 3 сюжета" in bot.sent[-1][1]
    (button,) = bot.markups[-1].inline_keyboard[0]
    assert button.text == "Показать ещё 3 сюжета"
    assert DigestMoreCb.unpack(button.callback_data).offset == 2


async def test_digest_is_stored_once_for_all_subscribers_of_a_period(env):
    services, bot, fanout = env
    for chat in range(10, 20):
        await subscribe(services, chat)
    await fanout.run(NOW)
    assert len(bot.sent) == 10
    (count,) = await services.db.fetchone("SELECT count(*) FROM digests")
    assert count == 1


async def test_pacing_memory_is_released_after_a_run(env):
    services, bot, fanout = env
    for chat in range(10, 15):
        await subscribe(services, chat)
    await fanout.run(NOW)
    fanout._chat_next[99] = 0.0  # a chat whose pacing moment has long passed
    await fanout.run(NOW + timedelta(minutes=1))
    assert 99 not in fanout._chat_next


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


async def test_two_processes_on_one_database_send_each_digest_once(db, reopen):
    """A restart overlap or a double deploy: two bots on the same database and token."""
    dbs = [db, await reopen()]
    settings = load_settings(summarizer_backend="extractive")
    bot = FakeBot()  # the same token: one Telegram
    bot.latency = 0.01  # sends overlap, as they do over a network
    fanouts = [Fanout(bot, Services.build(settings, store), sleep=instant) for store in dbs]
    services = fanouts[0].services
    await services.items.add(parse_statement("Курс рубля укрепился на торгах."), now=NOW - timedelta(hours=2))
    for chat in range(100, 160):
        await subscribe(services, chat)
    reports = await asyncio.gather(*(f.run(NOW, manual=True) for f in fanouts))
    again = await asyncio.gather(*(f.run(NOW + timedelta(seconds=30)) for f in fanouts))
    assert sorted(c for c, _ in bot.sent) == list(range(100, 160))  # each once
    assert sum(1 for r in reports if r.busy_with) == 1 and "другой запущенный экземпляр" in \
        next(r for r in reports if r.busy_with).describe()
    assert all(r.counts == {} for r in again)


async def test_lease_is_taken_over_only_after_its_holder_stops_renewing(db):
    clock = Clock()
    repo = LeasesRepo(db)
    first = Lease(repo, "job", holder="a", ttl=60, clock=lambda: clock.now, monotonic=lambda: clock.mono)
    second = Lease(repo, "job", holder="b", ttl=60, clock=lambda: clock.now, monotonic=lambda: clock.mono)
    assert await first.keep() and not await second.keep()
    clock.advance(40)
    assert await first.keep() and not await second.keep()  # renewed: good for 60 s from now
    clock.advance(59)
    assert not await second.keep()
    clock.advance(2)  # the holder died 61 s ago
    assert await second.keep() and not await first.keep()


async def test_a_holder_that_lost_its_lease_stops_sending(env):
    services, bot, fanout = env
    for chat in range(10, 13):
        await subscribe(services, chat)
    clock = Clock()
    fanout.lease = Lease(LeasesRepo(services.db), "fanout", holder="old", ttl=60, clock=lambda: clock.now,
                         monotonic=lambda: clock.mono)
    await fanout.lease.keep()
    clock.advance(61)  # stalled past its lease ...
    assert await Lease(LeasesRepo(services.db), "fanout", holder="new", clock=lambda: clock.now).keep()
    report = await fanout.run(NOW)  # ... then woke up
    assert bot.sent == [] and report.busy_with == "new"


async def test_senddigest_on_the_process_without_the_lease_is_sent_by_the_holder(db, reopen):
    dbs = [db, await reopen()]
    settings = load_settings(summarizer_backend="extractive")
    bot = FakeBot()
    holder, other = (Fanout(bot, Services.build(settings, store), sleep=instant) for store in dbs)
    services = holder.services
    await holder.run(NOW - timedelta(minutes=1))  # takes the lease; nobody to send to yet
    await services.items.add(parse_statement("Курс рубля укрепился на торгах."), now=NOW - timedelta(hours=2))
    for chat in range(100, 105):
        await subscribe(services, chat, at="20:00")  # not due: only /senddigest sends now
    report = await other.run(NOW, manual=True)  # an admin's /senddigest reached the other process
    assert report.busy_with and bot.sent == []
    await holder.run(NOW + timedelta(seconds=30))  # the holder's next tick
    assert sorted(c for c, _ in bot.sent) == list(range(100, 105))


async def test_an_unexpected_failure_while_sending_is_raised_not_swallowed(env):
    services, bot, fanout = env
    for chat in (10, 11):
        await subscribe(services, chat)

    async def broken(delivery, report):
        raise RuntimeError("database went away")

    fanout._send = broken
    with pytest.raises(RuntimeError, match="database went away"):
        await fanout.run(NOW)
    assert len(await services.deliveries.pending()) == 2  # kept for the next tick


async def test_a_slow_lease_renewal_causes_no_burst_above_the_rate(env):
    """Every sender waits while one renews the lease (the database may be busy with another writer); the
    starts they were given before must not all be spent at once when it is done."""
    services, bot, fanout = env
    for chat in range(100, 130):
        await subscribe(services, chat)
    clock = [0.0]
    waiting: list[tuple[float, asyncio.Future]] = []
    sends: list[float] = []
    done = asyncio.Event()

    async def sleep(seconds):  # virtual time: wakes when the driver's clock passes the target
        future = asyncio.get_running_loop().create_future()
        waiting.append((clock[0] + max(seconds, 0.0), future))
        await future

    class SlowLease:
        def __init__(self) -> None:
            self.calls = 0
            self.lock = asyncio.Lock()

        async def keep(self) -> bool:
            async with self.lock:
                self.calls += 1
                if self.calls == 10:
                    await sleep(1.0)  # a renewal stuck behind another process's write for a second
                return True

        def stop(self) -> None:
            pass

        async def release(self) -> None:
            pass

    class TimedBot(FakeBot):
        async def send_message(self, chat_id, text, reply_markup=None, **_):
            sends.append(clock[0])
            await super().send_message(chat_id, text, reply_markup)

    async def drive():
        while not done.is_set():
            await asyncio.sleep(0.002)  # real time for the database's threads
            clock[0] += 0.01
            for target, future in [w for w in waiting if w[0] <= clock[0]]:
                waiting.remove((target, future))
                future.set_result(None)

    fanout.bot = TimedBot()
    fanout.limiter = RateLimiter(10, sleep=sleep, clock=lambda: clock[0])
    fanout.lease = SlowLease()
    driver = asyncio.create_task(drive())
    try:
        report = await fanout.run(NOW)
    finally:
        done.set()
        await driver
    assert report.counts == {"sent": 30} and len(sends) == 30
    worst = max(sum(1 for t in sends if s <= t < s + 1.0 - 1e-9) for s in sends)
    assert worst <= 10, [round(t, 2) for t in sends]


class Outage:
    """The store goes away for `seconds` of `clock` once Telegram has taken `after` messages: the unlucky
    moment, with parts taken and not yet recorded."""

    def __init__(self, db, bot: FakeBot, after: int, seconds: float, clock=time.monotonic) -> None:
        self.starts_after, self.seconds, self.until = after, seconds, None
        self.bot, self.clock = bot, clock
        for name in ("fetchone", "fetchall"):
            setattr(db, name, self._guarded(getattr(db, name)))
        db.transaction = self._guarded_transaction(db.transaction)

    def down(self) -> bool:
        if self.until is None and len(self.bot.sent) >= self.starts_after:
            self.until = self.clock() + self.seconds
        return self.until is not None and self.clock() < self.until

    def _guarded(self, method):
        async def guarded(*args, **kwargs):
            if self.down():
                raise ConnectionError("the database is down")
            return await method(*args, **kwargs)
        return guarded

    def _guarded_transaction(self, method):
        @contextlib.asynccontextmanager
        async def guarded(*args, **kwargs):
            if self.down():
                raise ConnectionError("the database is down")
            async with method(*args, **kwargs) as conn:
                yield conn
        return guarded


async def test_a_database_outage_mid_fanout_sends_no_digest_twice_and_misses_none(db):
    # 400 subscribers at 200 messages/s (100 senders), the store away after the 150th for 6 s of the fan-out's
    # clock, which moves as its senders wait for the store (their retries' sleeps): no real waiting.
    settings = load_settings(summarizer_backend="extractive", digest_skip_empty=True)
    services = Services.build(settings, db)
    await services.items.add(parse_statement("Курс рубля укрепился на торгах."), now=NOW - timedelta(hours=2))
    for chat in range(1000, 1400):
        await subscribe(services, chat)
    bot = FakeBot()
    bot.latency = 0.002
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds
        await asyncio.sleep(0)

    outage = Outage(db, bot, after=150, seconds=6.0, clock=lambda: clock[0])
    fanout = Fanout(bot, services, concurrency=100, sleep=sleep)
    fanout.limiter = RateLimiter(200.0)
    with contextlib.suppress(ConnectionError):  # the tick logs it: claiming stopped with the store away
        await fanout.run(NOW)
    assert outage.until is not None
    clock[0] = max(clock[0], outage.until)  # the store is back; the next ticks
    await fanout.run(NOW + timedelta(seconds=30))
    await fanout.run(NOW + timedelta(seconds=60))
    got = Counter(chat for chat, _ in bot.sent)
    assert sorted(got) == list(range(1000, 1400)) and set(got.values()) == {1}


async def test_postgresql_killed_for_6_s_mid_fanout_sends_no_digest_twice_and_misses_none(postgres_url):
    from storage.postgres import PostgresDatabase
    # A server of its own, durable as in production (without fsync a crash loses commits): this test kills it.
    with postgres_server.running_server(durable=True) as url:
        db = await PostgresDatabase.open(url)
        try:
            services = Services.build(load_settings(summarizer_backend="extractive", digest_skip_empty=True), db)
            await services.items.add(parse_statement("Курс рубля укрепился на торгах."),
                                     now=NOW - timedelta(hours=2))
            for chat in range(1000, 1400):
                await subscribe(services, chat)
            bot = FakeBot()
            bot.latency = 0.002
            real_send, restarted = bot.send_message, []

            async def down_for_6_s() -> None:
                await asyncio.to_thread(postgres_server.kill, url)
                await asyncio.sleep(6.0)
                await asyncio.to_thread(postgres_server.restart, url)

            async def send_then_kill(chat_id, text, **kwargs):
                await real_send(chat_id, text, **kwargs)
                if len(bot.sent) == 150 and not restarted:  # Telegram took it; the server dies now
                    restarted.append(asyncio.create_task(down_for_6_s()))

            bot.send_message = send_then_kill
            fanout = Fanout(bot, services, concurrency=100)
            fanout.limiter = RateLimiter(200.0)
            with contextlib.suppress(Exception):  # the tick logs it: claiming stopped with the server gone
                await fanout.run(NOW)
            await restarted[0]
            for tick in (30, 60, 90):  # the next ticks, once the server is back
                with contextlib.suppress(Exception):
                    await fanout.run(NOW + timedelta(seconds=tick))
            got = Counter(chat for chat, _ in bot.sent)
            assert sorted(got) == list(range(1000, 1400)) and set(got.values()) == {1}
        finally:
            await db.close()


@pytest.mark.parametrize(("chat", "interval"), [(10, 1.0), (-1000, 3.0)])
async def test_each_chat_gets_its_parts_no_faster_than_telegram_allows_it(env, chat, interval):
    """About one message a second in a private chat, one per 3 s in a group: a digest's parts are spaced."""
    services, bot, _ = env
    await subscribe(services, chat)
    digest = await DigestsRepo(services.db).put("k", "<b>Дайджест</b>", ["часть 1", "часть 2", "часть 3"],
                                                ["• a", "• b"], 2)
    await services.deliveries.claim(chat, "2025-08-09", NOW - timedelta(days=1), NOW, digest.id)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    await Fanout(bot, services, sleep=record).run(NOW)
    assert [text for c, text in bot.sent if c == chat] == ["часть 1", "часть 2", "часть 3"]
    paced = sorted(w for w in waits if w > 0.5)  # the chat's own spacing (the global pacer's are 40 ms)
    assert len(paced) == 2 and paced[0] >= interval * 0.9 and paced[1] >= 2 * interval * 0.9
