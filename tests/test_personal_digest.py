"""A digest of one's own: followed stories first and marked, muted ones out, a size; the commands and buttons
that set them; two subscribers with different filters get different digests from one fan-out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.config import load_settings
from bot.delivery import Fanout
from bot.services import Services
from digest.maker import DigestMaker
from digest.markup import MAX_MESSAGE_CHARS, message_length
from digest.subscriber_terms import matches
from storage.items import ItemsRepo
from storage.morphology import index_stems as stems_of
from storage.preferences import MAX_TERMS, Preferences, PreferencesRepo
from storage.statements import parse_statement
from tests.helpers import NOW, USER, FakeBot, Harness, instant, subscribe

DAY = date(2025, 8, 9)
TEXTS = ["Курс рубля укрепился на торгах Московской биржи.",
         "Евросоюз ввёл новые санкции против банков.",
         "Футбольный клуб выиграл матч чемпионата.",
         "Центральный банк сохранил ключевую ставку."]


@pytest.mark.parametrize(("term", "text", "expected"), [
    ("санкции", "Евросоюз ввёл пакет санкций.", True),  # any form of the word
    ("санкции", "Курс рубля укрепился.", False),
    ('"центральный банк"', "Центральный банк сохранил ставку.", True),  # the phrase
    ('"центральный банк"', "Банк стал центральным игроком.", False),  # the words, but not the phrase
    ("нефть газ", "Цены на нефть и газ выросли.", True),  # every word
    ("нефть газ", "Цены на нефть выросли.", False),
    ("футбол*", "Футбольный клуб выиграл.", True),  # a prefix
    ("санкции -банков", "Санкции против банков.", False),  # an exclusion
])
def test_a_term_matches_as_it_would_in_search(term, text, expected):
    assert matches(term, stems_of(text)) is expected


@pytest.fixture
async def maker(db):
    await ItemsRepo(db).add_many([parse_statement(f"date 2025-08-09\n{t}") for t in TEXTS])
    return DigestMaker(db, max_stories=30)


async def test_followed_stories_come_first_marked_and_muted_ones_are_left_out(maker):
    prefs = Preferences(follow=("банк",), mute=("футбол*",))
    digest = await maker.for_dates(DAY, DAY, prefs)
    text = digest.messages[0]
    lines = [ln for ln in text.splitlines() if ln.startswith(("⭐", "•"))]
    assert [ln[0] for ln in lines] == ["⭐", "⭐", "•"]  # two about banks first, then the rest
    assert "Футбольный" not in text and "скрыто вашими фильтрами: 1" in text
    plain = await maker.for_dates(DAY, DAY)
    assert plain.id != digest.id and "Футбольный" in plain.messages[0] and "⭐" not in plain.messages[0]


async def test_only_followed_and_size_cut_the_digest(maker):
    only = await maker.for_dates(DAY, DAY, Preferences(follow=("санкции",), only_followed=True))
    assert only.story_count == 1 and "санкции" in only.messages[0] and "рубля" not in only.messages[0]
    small = await maker.for_dates(DAY, DAY, Preferences(size=2))
    assert small.shown == 2 and small.story_count == 4 and "ещё 2 сюжета" in small.messages[0]
    hidden = await maker.for_dates(DAY, DAY, Preferences(mute=("рубль", "санкции", "футбол*", "банк")))
    assert hidden.story_count == 0 and "Скрыто вашими фильтрами (/filters): 4 сюжета" in hidden.messages[0]


async def test_subscribers_with_the_same_filters_share_one_stored_digest(maker):
    first = await maker.for_dates(DAY, DAY, Preferences(follow=("банк", "рубль")))
    second = await maker.for_dates(DAY, DAY, Preferences(follow=("рубль", "банк")))
    assert first.id == second.id


@pytest.fixture
async def h(db):
    return Harness(Services.build(load_settings(summarizer_backend="extractive"), db))


def sent(requests) -> list[str]:
    return [r.text for r in requests if isinstance(r, SendMessage | EditMessageText)]


async def test_follow_mute_and_filters_with_remove_buttons(h):
    await h.send(USER, "/start")
    (reply,) = await h.send(USER, "/follow санкции")
    assert "Слежу за «санкции»" in reply
    await h.send(USER, "/mute <b>футбол</b>")  # HTML in a term is shown as typed, not as markup
    (listing,) = await h.send(USER, "/filters")
    assert "⭐ санкции" in listing and "🚫 &lt;b&gt;футбол&lt;/b&gt;" in listing
    markup = h.session.requests[-1].reply_markup
    remove = markup.inline_keyboard[0][0]
    assert remove.text.startswith("✖ ⭐ санкции")
    stranger = await h.press(USER + 1, remove.callback_data)  # another chat's button: nothing removed
    assert [a.text for a in stranger if isinstance(a, AnswerCallbackQuery)] == ["Этого фильтра уже нет."]
    assert (await h.services.preferences.get(USER)).follow == ("санкции",)
    own = await h.press(USER, remove.callback_data)
    (edited,) = [r for r in own if isinstance(r, EditMessageText)]  # the same message, updated in place
    assert "санкции" not in edited.text and (await h.services.preferences.get(USER)).follow == ()


@pytest.mark.parametrize("text", ["/follow", "/follow 😀🎉", "/follow " + "слово " * 1000, "/mute AND OR NOT",
                                  "/follow и в на"])
async def test_bad_terms_are_answered_and_change_nothing(h, text):
    (reply,) = await h.send(USER, text)
    assert reply and (await h.services.preferences.get(USER)).filters == ()


async def test_at_most_fifty_terms(h):
    for n in range(MAX_TERMS):
        await PreferencesRepo(h.services.db).add_filter(USER, "follow", f"тема{n}")
    (reply,) = await h.send(USER, "/follow погода")
    assert "уже 50 фильтров" in reply and len((await h.services.preferences.get(USER)).filters) == MAX_TERMS


async def test_size_and_only_followed_switch(h):
    await h.send(USER, "/start")
    assert "Нужно число" in (await h.send(USER, "/size 0"))[0]
    assert "Нужно число" in (await h.send(USER, "/size ５"))[0]  # a full-width digit is not a number here
    (reply,) = await h.send(USER, "/size 5")
    assert "5 сюжетов" in reply and (await h.services.preferences.get(USER)).size == 5
    await h.send(USER, "/follow рубль")
    await h.send(USER, "/filters")
    switch = h.session.requests[-1].reply_markup.inline_keyboard[-1][0]
    assert switch.text == "Только отслеживаемые сюжеты"
    await h.press(USER, switch.callback_data)
    assert (await h.services.preferences.get(USER)).only_followed


async def test_two_subscribers_with_different_filters_get_different_digests(db):
    services = Services.build(load_settings(summarizer_backend="extractive"), db)
    bot = FakeBot()
    fanout = Fanout(bot, services, sleep=instant)
    await services.items.add_many([parse_statement(t) for t in TEXTS], now=NOW - timedelta(hours=2))
    for chat in (100, 200, 300):
        await subscribe(services, chat)
    await services.preferences.add_filter(100, "follow", "санкции")
    await services.preferences.add_filter(200, "mute", "рубль")
    await fanout.run(NOW)
    by_chat = dict(bot.sent)
    assert len(by_chat) == 3
    first_line = [ln for ln in by_chat[100].splitlines() if ln.startswith(("⭐", "•"))][0]
    assert first_line.startswith("⭐") and "санкции" in first_line
    assert "рубля" not in by_chat[200] and "рубля" in by_chat[300] and "⭐" not in by_chat[300]


async def test_the_longest_filter_list_is_shown_in_one_message_and_every_term_can_be_removed(h):
    for n in range(MAX_TERMS):
        await h.send(USER, f"/mute {n:02d} " + "&" * 40 + " слово" * 9)  # 100 characters, 140 escaped
    start = len(h.session.requests)
    (shown,) = await h.send(USER, "/filters")
    assert message_length(shown) <= MAX_MESSAGE_CHARS and shown.count("🚫") == MAX_TERMS
    assert "🚫 00 &amp;" in shown and "🚫 49 &amp;" in shown
    (sent,) = [r for r in h.session.requests[start:] if isinstance(r, SendMessage)]
    assert len(sent.reply_markup.inline_keyboard) == MAX_TERMS  # a ✖ under the list for each term


async def test_in_a_group_only_its_administrators_change_the_digest(h):
    h.session.group_admins = {USER + 1}
    assert await h.send(USER, "/follow санкции", chat_type="group") == [
        "В группе настройки дайджеста меняют только администраторы группы."]
    (reply,) = await h.send(USER + 1, "/follow санкции", chat_type="group")
    assert "Слежу" in reply
    (group_filter,) = (await h.services.preferences.get(-1000)).filters
    requests = await h.press(USER, f"fr:{group_filter.id}", chat_id=-1000)  # a member presses ✖ under the list
    assert [a.text for a in requests if isinstance(a, AnswerCallbackQuery)] == [
        "В группе настройки дайджеста меняют только администраторы группы."]
    assert (await h.services.preferences.get(-1000)).follow == ("санкции",)


async def test_a_subscribers_own_digest_stores_an_order_of_the_shared_lines_not_lines_of_its_own(maker, db):
    own = await maker.for_dates(DAY, DAY, Preferences(follow=("банк",), mute=("рубль",), size=1))
    (rows,) = await db.fetchone("SELECT count(*) FROM digest_entries WHERE digest_id = ?", (own.id,))
    assert rows == 0 and own.shown == 1 and own.story_count == 3
    rest = await maker.entries(own.id, 1, 10)  # what the "more" button shows
    assert [line[0] for line in rest] == ["⭐", "•"] and not any("рубля" in line for line in rest)
    (shared,) = await db.fetchone("SELECT count(*) FROM digest_entries")
    assert shared == 4  # the period's lines, once


async def test_the_first_digest_goes_out_before_the_last_one_is_prepared(db):
    services = Services.build(load_settings(summarizer_backend="extractive"), db)
    bot = FakeBot()
    fanout = Fanout(bot, services, sleep=instant)
    await services.items.add_many([parse_statement(t) for t in TEXTS], now=NOW - timedelta(hours=2))
    for chat, term in zip((100, 200, 300, 400), ("санкции", "рубль", "футбол*", "банк"), strict=True):
        await subscribe(services, chat)
        await services.preferences.add_filter(chat, "follow", term)  # four digests of their own
    sent_before: list[int] = []
    prepare = services.digest_maker.for_arrivals

    async def counting(*args, **kwargs):
        sent_before.append(len(bot.sent))
        return await prepare(*args, **kwargs)

    services.digest_maker.for_arrivals = counting
    await fanout.run(NOW)
    assert len(bot.sent) == 4 and sent_before[0] == 0 and sent_before[-1] > 0
