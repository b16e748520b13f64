"""How often a digest comes: daily, twice a day, weekly, paused; each slot once, across time zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.config import load_settings
from bot.delivery import Fanout
from bot.services import Services
from bot.slots import due_slot, manual_slot
from storage.statements import parse_statement
from storage.subscribers import Subscriber
from tests.helpers import NOW, USER, FakeBot, Harness, instant, subscribe

CATCH_UP = timedelta(hours=12)


def sub(rhythm="daily", at="09:00", second=None, weekday=None, tz="Europe/Moscow",
        joined=datetime(2025, 1, 1, tzinfo=UTC)) -> Subscriber:
    return Subscriber(1, True, at, tz, None, joined, rhythm, second, weekday)


def test_twice_a_day_has_two_slots_each_with_its_own_key_and_period():
    twice = sub("twice", "09:00", "21:00")
    morning = due_slot(twice, NOW, CATCH_UP)  # 09:30 in Moscow
    assert morning.key == "2025-08-09T09:00" and morning.previous == datetime(2025, 8, 8, 18, 0, tzinfo=UTC)
    evening = due_slot(twice, NOW + timedelta(hours=12), CATCH_UP)
    assert evening.key == "2025-08-09T21:00" and evening.previous == morning.moment


def test_weekly_is_due_on_its_day_only():
    saturday = sub("weekly", weekday=5)  # 9 August 2025 is a Saturday
    slot = due_slot(saturday, NOW, CATCH_UP)
    assert slot.key == "2025-08-09" and slot.previous == slot.moment - timedelta(days=7)
    assert due_slot(sub("weekly", weekday=4), NOW, CATCH_UP) is None  # Friday's is a day late


def test_paused_gets_nothing_scheduled_or_sent_by_hand():
    assert due_slot(sub("paused"), NOW, CATCH_UP) is None and manual_slot(sub("paused"), NOW) is None


def test_a_send_by_hand_stands_for_the_next_of_todays_two():
    twice = sub("twice", "09:00", "21:00")
    assert manual_slot(twice, NOW).key == "2025-08-09T21:00"  # 09:30: the morning's is past, the evening's next
    assert manual_slot(twice, NOW - timedelta(hours=3)).key == "2025-08-09T09:00"  # 06:30: this morning's


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
@pytest.mark.parametrize(("rhythm", "second", "weekday", "per_week"), [
    ("daily", None, None, 7), ("twice", "01:30", None, 14), ("weekly", None, 6, 1)])
def test_every_slot_is_due_once_across_a_daylight_saving_change(zone, rhythm, second, weekday, per_week):
    """A scheduler ticking every 5 minutes through the week of a clock change (spring and autumn): each slot
    becomes due once, at its local time (02:30 does not exist on a spring-forward night in Berlin)."""
    for day in (date(2025, 3, 27), date(2025, 10, 23), date(2025, 4, 3), date(2025, 11, 1)):
        # A week of the subscriber's own calendar: from a local midnight to the local midnight 7 days later.
        start = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
        end = datetime.combine(day + timedelta(days=7), time(0), tzinfo=ZoneInfo(zone))
        subscriber = sub(rhythm, "02:30", second, weekday, zone, joined=start)
        sent: dict[str, datetime] = {}
        now = start
        while now < end:
            slot = due_slot(subscriber, now, CATCH_UP)
            if slot and slot.key not in sent:
                sent[slot.key] = now
                assert now - slot.moment < timedelta(minutes=5)  # on time, not caught up late
            now += timedelta(minutes=5)
        assert len(sent) == per_week, (zone, start, sorted(sent))


async def test_a_twice_a_day_subscriber_gets_two_digests_each_once_with_the_news_since_the_last(db):
    services = Services.build(load_settings(summarizer_backend="extractive"), db)
    bot = FakeBot()
    fanout = Fanout(bot, services, sleep=instant)
    await subscribe(services, 100)
    await services.subscribers.set_rhythm(100, "twice", digest_time="09:00", second_time="21:00")
    await services.items.add(parse_statement("Курс рубля укрепился на торгах."), now=NOW - timedelta(hours=2))
    await fanout.run(NOW)
    await fanout.run(NOW + timedelta(minutes=1))  # the next tick: already sent
    await services.items.add(parse_statement("Школы готовы к учебному году."), now=NOW + timedelta(hours=3))
    await fanout.run(NOW + timedelta(hours=12))  # 21:30 in Moscow
    await fanout.run(NOW + timedelta(hours=12, minutes=1))
    assert [c for c, _ in bot.sent] == [100, 100]
    morning, evening = (text for _, text in bot.sent)
    assert "рубля" in morning and "Школы" in evening and "рубля" not in evening


@pytest.fixture
async def h(db):
    return Harness(Services.build(load_settings(summarizer_backend="extractive"), db))


async def test_rhythm_command_sets_and_explains(h):
    await h.send(USER, "/start")
    (reply,) = await h.send(USER, "/rhythm дважды 08:00 20:30")
    assert "дважды в день, в 08:00 и 20:30" in reply
    subscriber = await h.services.subscribers.get(USER)
    assert (subscriber.rhythm, subscriber.digest_time, subscriber.second_time) == ("twice", "08:00", "20:30")
    (reply,) = await h.send(USER, "/rhythm еженедельно пятница")
    assert "раз в неделю: пятница, 08:00" in reply
    for bad in ("/rhythm дважды 08:00", "/rhythm иногда", "/rhythm еженедельно", "/rhythm дважды 25:00 10:00"):
        (reply,) = await h.send(USER, bad)
        assert "Готово" not in reply
    assert (await h.services.subscribers.get(USER)).rhythm == "weekly"
    (reply,) = await h.send(USER, "/rhythm пауза")
    assert "на паузе" in reply and "на паузе" in (await h.send(USER, "/settings"))[0]


@pytest.mark.parametrize(("words", "day"), [
    ("еженедельно пн", "понедельник"), ("еженедельно вт 07:00", "вторник"), ("раз в неделю в среду", "среда"),
    ("еженедельно чт", "четверг"), ("еженедельно пт 18:00", "пятница"), ("еженедельно сб", "суббота"),
    ("еженедельно вс", "воскресенье"), ("раз в неделю во вторник", "вторник"), ("weekly fri", "пятница")])
async def test_weekly_rhythm_understands_every_day_as_people_write_it(h, words, day):
    (reply,) = await h.send(USER, f"/rhythm {words}")
    assert reply.startswith("Готово: дайджест раз в неделю: " + day)


async def test_settings_menu_edits_one_message_in_place_and_confirms_each_change(h):
    await h.send(USER, "/start")
    await h.send(USER, "/settings")
    buttons = {b.text: b.callback_data for row in h.session.requests[-1].reply_markup.inline_keyboard for b in row}
    edits = []
    for label in ("Дважды", "+1 час", "10 сюжетов", "Новосибирск"):
        requests = await h.press(USER, buttons[label])
        edits += [r.text for r in requests if isinstance(r, EditMessageText)]
        assert not [r for r in requests if isinstance(r, SendMessage)]  # no new messages: the same one, edited
    subscriber = await h.services.subscribers.get(USER)
    assert (subscriber.rhythm, subscriber.digest_time, subscriber.second_time) == ("twice", "10:00", "22:00")
    assert subscriber.timezone == "Asia/Novosibirsk" and (await h.services.preferences.get(USER)).size == 10
    assert ["✔ Дайджест дважды в день" in edits[0], "✔ Время дайджеста: 10:00" in edits[1],
            "✔ На первой странице: 10 сюжетов" in edits[2], "✔ Часовой пояс:" in edits[3]] == [True] * 4
    forged = await h.press(USER, "st:tz:Mars/Base")
    assert [a.text for a in forged if isinstance(a, AnswerCallbackQuery)] == [
        "Эта кнопка устарела — откройте /settings снова."]
    assert (await h.services.subscribers.get(USER)).timezone == "Asia/Novosibirsk"


async def test_in_a_group_only_administrators_use_the_settings_menu(h):
    h.session.group_admins = {USER + 1}
    await h.send(USER + 1, "/subscribe", chat_type="group")
    requests = await h.press(USER, "st:rhythm:paused", chat_id=-1000)
    assert [a.text for a in requests if isinstance(a, AnswerCallbackQuery)] == [
        "В группе настройки дайджеста меняют только администраторы группы."]
    assert (await h.services.subscribers.get(-1000)).rhythm == "daily"
    h.session.group_admins = {USER}
    await h.press(USER, "st:rhythm:paused", chat_id=-1000)
    assert (await h.services.subscribers.get(-1000)).rhythm == "paused"
