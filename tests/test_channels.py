"""The digest in a channel (/channel) and inline search, through aiogram's dispatcher and the fan-out."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import AnswerInlineQuery, GetChat, GetChatMember, SendMessage
from aiogram.types import (
    Chat,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberUpdated,
    InlineQuery,
    Message,
    MessageOriginChannel,
    Update,
    User,
)

from bot.config import load_settings
from bot.delivery import Fanout
from bot.services import Services
from digest.markup import MAX_MESSAGE_CHARS, message_length
from storage.statements import parse_statement
from tests.helpers import ADMIN, NOW, USER, FakeBot, Harness, RecordingSession, instant

CHANNEL = -1001234567890
_ids = itertools.count(9000)


def admin_rights(user: User, can_post: bool = True) -> ChatMemberAdministrator:
    # Built without validation: the required fields grow with each Bot API version; these are what is read.
    return ChatMemberAdministrator.model_construct(status="administrator", user=user, can_post_messages=can_post)


class ChannelSession(RecordingSession):
    """The Bot API as a channel @digest_news sees it: the bot an administrator there, allowed to post."""

    def __init__(self) -> None:
        super().__init__()
        self.bot_can_post = True

    async def make_request(self, bot, method, timeout=None):
        if isinstance(method, GetChat):
            if method.chat_id not in ("@digest_news", CHANNEL):
                raise TelegramBadRequest(method, "Bad Request: chat not found")
            return ChatFullInfo.model_construct(id=CHANNEL, type="channel", title="Новости дня",
                                                username="Digest_News")
        if isinstance(method, GetChatMember) and method.chat_id == CHANNEL:
            user = User(id=method.user_id, is_bot=True, first_name="Бот")
            self.requests.append(method)
            return admin_rights(user, self.bot_can_post) if self.bot_can_post else ChatMemberMember(user=user)
        if isinstance(method, AnswerInlineQuery):
            self.requests.append(method)
            return True
        return await super().make_request(bot, method, timeout)


@pytest.fixture
async def h(db):
    settings = load_settings(admin_ids=frozenset({ADMIN}), summarizer_backend="extractive")
    harness = Harness(Services.build(settings, db))
    harness.session = ChannelSession()
    harness.bot.session = harness.session
    return harness


async def test_an_admin_connects_a_channel_by_name_link_or_forwarded_post(h):
    (reply,) = await h.send(ADMIN, "/channel @digest_news")
    assert "Канал «Новости дня» (@digest_news) подключён" in reply and "каждый день в 09:00" in reply
    sub = await h.services.subscribers.get(CHANNEL)
    assert sub.active and (await h.services.channels.get(CHANNEL)).added_by == ADMIN
    (again,) = await h.send(ADMIN, "/channel https://t.me/digest_news")
    assert "снова подключён" in again
    forwarded = Message(message_id=next(_ids), date=datetime.now(), chat=Chat(id=ADMIN, type="private"),
                        text="пост", forward_origin=MessageOriginChannel(
                            type="channel", date=datetime.now(), chat=Chat(id=CHANNEL, type="channel"),
                            message_id=5))
    (by_reply,) = await h.send(ADMIN, "/channel", reply_to_message=forwarded)
    assert "подключён" in by_reply
    (listing,) = await h.send(ADMIN, "/channel")
    assert "@digest_news «Новости дня» — каждый день в 09:00" in listing and "ещё не было" in listing


async def test_a_channel_where_the_bot_may_not_post_or_no_channel_is_refused_with_why(h):
    h.session.bot_can_post = False
    (reply,) = await h.send(ADMIN, "/channel @digest_news")
    assert "Бот не может публиковать" in reply and "администратором" in reply
    (unknown,) = await h.send(ADMIN, "/channel @nobody_here")
    assert unknown.startswith("Не нашёл канал @nobody_here")
    (nonsense,) = await h.send(ADMIN, "/channel <b>x</b>")
    assert nonsense.startswith("Не понимаю «&lt;b&gt;x&lt;/b&gt;»")
    assert await h.services.subscribers.get(CHANNEL) is None


async def test_only_the_bots_admins_manage_channels(h):
    assert await h.send(USER, "/channel @digest_news") == ["Эта команда только для администраторов."]
    assert await h.services.subscribers.get(CHANNEL) is None


async def test_a_channels_settings_use_the_same_commands(h):
    await h.send(ADMIN, "/channel @digest_news")
    (time_set,) = await h.send(ADMIN, "/channel @digest_news time 07:45")
    assert time_set == "@digest_news: Дайджест будет приходить в 07:45."
    (zone,) = await h.send(ADMIN, "/channel @Digest_News tz Новосибирск")
    assert "Новосибирск" in zone or "Novosibirsk" in zone
    (rhythm,) = await h.send(ADMIN, "/channel @digest_news rhythm еженедельно пт 18:00")
    assert "раз в неделю: пятница, 18:00" in rhythm
    (bad,) = await h.send(ADMIN, "/channel @digest_news time 25:00")
    assert "/channel @digest_news time 08:30" in bad  # an example to type for this channel
    sub = await h.services.subscribers.get(CHANNEL)
    assert (sub.digest_time, sub.timezone, sub.rhythm) == ("18:00", "Asia/Novosibirsk", "weekly")
    (off,) = await h.send(ADMIN, "/channel off @digest_news")
    assert "больше не публикуется" in off and not (await h.services.subscribers.get(CHANNEL)).active


async def test_the_channels_digest_is_posted_once_a_slot_with_a_link_to_the_rest_in_the_bot(h):
    services = h.services
    await h.send(ADMIN, "/channel @digest_news")
    services.digest_maker.max_stories = 1
    for text in ("Школы готовы к учебному году.", "В Казани открыли станцию метро."):
        await services.items.add(parse_statement(text), now=NOW - timedelta(hours=1))
    async with services.db.transaction() as conn:  # connected three days ago
        await conn.execute("UPDATE subscribers SET created_at = ? WHERE chat_id = ?",
                           ((NOW - timedelta(days=3)).isoformat(), CHANNEL))
    bot = FakeBot()
    fanout = Fanout(bot, services, sleep=instant)
    await fanout.run(NOW)
    await fanout.run(NOW + timedelta(minutes=1))
    await Fanout(bot, services, sleep=instant).run(NOW + timedelta(minutes=2))  # a restart
    assert [chat for chat, _ in bot.sent] == [CHANNEL]
    assert "…и ещё 1 сюжет" in bot.sent[0][1]
    (button,) = bot.markups[0].inline_keyboard[0]  # a link to read the rest in the bot, not a callback
    assert button.callback_data is None and button.url.startswith("https://t.me/digest_test_bot?start=more")
    # A reader opens the link: the rest, in the private chat; nobody is subscribed by it.
    (rest,) = await h.send(USER, f"/start {button.url.rsplit('=', 1)[1]}")
    assert "Сюжеты 2–2 из 2" in rest and await services.subscribers.get(USER) is None
    await h.send(USER + 1, "/follow метро")
    await h.send(USER + 1, "/digest")  # a subscriber's own digest, sent to no channel: not readable by its id
    (own_id,) = await services.db.fetchone("SELECT max(id) FROM digests")
    assert f"more{own_id}" not in button.url
    (forged,) = await h.send(USER, f"/start more{own_id}")
    assert forged.startswith("Этот дайджест устарел")


@pytest.mark.parametrize("error", [TelegramForbiddenError, TelegramBadRequest])
async def test_a_channel_that_took_the_bots_rights_stops_and_its_admin_is_told_once(h, error):
    services = h.services
    await h.send(ADMIN, "/channel @digest_news")
    await services.items.add(parse_statement("Школы готовы к учебному году."), now=NOW - timedelta(hours=1))
    async with services.db.transaction() as conn:
        await conn.execute("UPDATE subscribers SET created_at = ? WHERE chat_id = ?",
                           ((NOW - timedelta(days=3)).isoformat(), CHANNEL))
    bot = FakeBot()
    message = ("Forbidden: bot is not a member of the channel chat" if error is TelegramForbiddenError
               else "Bad Request: not enough rights to send text messages to the chat")
    bot.script[CHANNEL] = [error(SendMessage(chat_id=CHANNEL, text="x"), message)]
    fanout = Fanout(bot, services, sleep=instant)
    await fanout.run(NOW)
    await fanout.run(NOW + timedelta(days=1))  # the next day: not tried again
    told = [text for chat, text in bot.sent if chat == ADMIN]
    assert len(told) == 1 and "Канал @digest_news" in told[0] and "/channel @digest_news" in told[0]
    assert not [chat for chat, _ in bot.sent if chat == CHANNEL]
    channel = await services.channels.get(CHANNEL)
    assert channel.problem and not (await services.subscribers.get(CHANNEL)).active
    (listing,) = await h.send(ADMIN, "/channel")
    assert "⚠" in listing


async def test_the_bot_removed_from_a_channel_is_noticed(h):
    await h.send(ADMIN, "/channel @digest_news")
    bot_user = User(id=42, is_bot=True, first_name="Бот")
    update = Update(update_id=next(_ids), my_chat_member=ChatMemberUpdated(
        chat=Chat(id=CHANNEL, type="channel"), from_user=User(id=777, is_bot=False, first_name="Владелец"),
        date=datetime.now(), old_chat_member=ChatMemberMember(user=bot_user),
        new_chat_member=ChatMemberLeft(user=bot_user)))
    start = len(h.session.requests)
    await h.dp.feed_update(h.bot, update)
    await h.dp.feed_update(h.bot, update.model_copy(update={"update_id": next(_ids)}))  # said once
    told = [r for r in h.session.requests[start:] if isinstance(r, SendMessage)]
    assert [r.chat_id for r in told] == [ADMIN] and "удалили из канала" in told[0].text
    assert not (await h.services.subscribers.get(CHANNEL)).active


async def inline(h, text: str, offset: str = "") -> AnswerInlineQuery:
    start = len(h.session.requests)
    query = InlineQuery(id=str(next(_ids)), from_user=User(id=USER, is_bot=False, first_name="Т"), query=text,
                        offset=offset)
    await h.dp.feed_update(h.bot, Update(update_id=next(_ids), inline_query=query))
    (answer,) = [r for r in h.session.requests[start:] if isinstance(r, AnswerInlineQuery)]
    return answer


async def test_inline_search_answers_articles_and_pages_by_offset(h):
    for n in range(14):
        await h.services.items.add(parse_statement(
            f"date 2025-08-09\nВ Казани открыли станцию метро номер {n}. Она примет тысячи пассажиров.",
            link=f"https://example.ru/news/{n}"))
    first = await inline(h, "метро казань")
    assert len(first.results) == 10 and first.next_offset == "10" and not first.is_personal
    article = first.results[0]
    assert article.title.startswith("В Казани открыли станцию метро")
    message = article.input_message_content.message_text
    assert message.startswith("<b>В Казани открыли") and "9 августа 2025" in message
    assert '<a href="https://example.ru/news/' in message
    second = await inline(h, "метро казань", first.next_offset)
    assert len(second.results) == 4 and second.next_offset == ""
    assert not {r.id for r in first.results} & {r.id for r in second.results}


@pytest.mark.parametrize("text", ["-", "\"\" AND OR", "🔥🔥🔥", "x" * 300, "NEAR(", "ничегонепохожего"])
async def test_hostile_or_fruitless_inline_queries_get_an_empty_answer(h, text):
    await h.services.items.add(parse_statement("date 2025-08-09\nВ Казани открыли станцию метро."))
    answer = await inline(h, text)
    assert answer.results == [] and answer.next_offset == ""


async def test_an_empty_inline_query_offers_the_latest_digests_top_stories(h):
    for text in ("Школы готовы к учебному году.", "В Казани открыли станцию метро.", "Синоптики обещают жару."):
        await h.services.items.add(parse_statement(f"date 2025-08-09\n{text}"))
    answer = await inline(h, "")
    assert {r.title for r in answer.results} == {"Школы готовы к учебному году.",
                                                 "В Казани открыли станцию метро.", "Синоптики обещают жару."}


async def test_a_long_list_of_channels_is_sent_in_messages_that_each_fit(h):
    for n in range(40):
        chat_id = CHANNEL - 1 - n
        await h.services.channels.add(chat_id, f"channel_number_{n:02d}", "Очень длинное название " * 5, ADMIN)
        await h.services.subscribers.subscribe(chat_id, "09:00", "Europe/Moscow")
        await h.services.channels.lost(chat_id, "Bad Request: not enough rights to send text messages " * 5)
    shown = await h.send(ADMIN, "/channel")
    assert len(shown) > 1 and all(message_length(text) <= MAX_MESSAGE_CHARS for text in shown)
    assert all(f"@channel_number_{n:02d}" in "".join(shown) for n in range(40))
