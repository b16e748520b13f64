"""Handlers through aiogram's dispatcher, with a session that records what the bot would send."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiogram.exceptions import TelegramServerError
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    SendMessage,
)
from aiogram.types import Chat, Document

from bot.config import load_settings
from bot.keyboards import DigestMoreCb
from bot.services import Services
from bot.texts import NOT_ADMIN
from digest.markup import MAX_MESSAGE_CHARS, message_length
from storage.statements import parse_statement
from tests.helpers import ADMIN, USER, Harness


@pytest.fixture
async def h(db):
    settings = load_settings(admin_ids=frozenset({ADMIN}), summarizer_backend="extractive")
    return Harness(Services.build(settings, db))


async def test_start_subscribes_and_explains(h):
    (reply,) = await h.send(USER, "/start")
    assert "Вы подписаны" in reply and "/search" in reply and "/delete" not in reply
    assert (await h.services.subscribers.get(USER)).active


async def test_admin_help_lists_admin_commands(h):
    (reply,) = await h.send(ADMIN, "/help")
    assert "/senddigest" in reply


async def test_unknown_command_is_answered_politely(h):
    assert await h.send(USER, "/frobnicate") == ["Не знаю такой команды. Список команд — /help."]


async def test_unknown_command_for_another_bot_in_a_group_is_ignored(h):
    assert await h.send(USER, "/frobnicate@other_bot", chat_type="group") == []


async def test_commands_addressed_to_us_in_groups_work(h):
    h.session.group_admins = {USER}
    (reply,) = await h.send(USER, "/subscribe@digest_test_bot", chat_type="group")
    assert "подписаны" in reply
    assert (await h.services.subscribers.get(-1000)).active


@pytest.mark.parametrize("command", ["/start", "/subscribe", "/unsubscribe", "/time 06:00", "/tz Asia/Tokyo",
                                     "/rhythm пауза", "/follow санкции", "/mute футбол", "/size 3"])
async def test_a_plain_group_member_changes_nothing_of_the_groups_digest(h, command):
    h.session.group_admins = {ADMIN}
    await h.send(ADMIN, "/subscribe", chat_type="group")
    before = (await h.services.subscribers.get(-1000), await h.services.preferences.get(-1000))
    assert await h.send(USER, command, chat_type="group") == [
        "В группе настройки дайджеста меняют только администраторы группы."]
    assert (await h.services.subscribers.get(-1000), await h.services.preferences.get(-1000)) == before


async def test_an_anonymous_group_administrator_may_change_the_groups_digest(h):
    # Telegram sends an anonymous admin's message from GroupAnonymousBot, on behalf of the group itself.
    (reply,) = await h.send(1087968824, "/time 06:00", chat_type="group",
                            sender_chat=Chat(id=-1000, type="group"))
    assert reply == "Дайджест будет приходить в 06:00."
    assert (await h.services.subscribers.get(-1000)).digest_time == "06:00"


@pytest.mark.parametrize("arg", ["25:99", "12:60", "abc", "9", "-1:00"])
async def test_bad_time_is_refused_and_nothing_changes(h, arg):
    await h.send(USER, "/start")
    (reply,) = await h.send(USER, f"/time {arg}")
    assert "Не понимаю время" in reply or "Укажите время" in reply
    assert (await h.services.subscribers.get(USER)).digest_time == "09:00"


async def test_time_and_timezone_are_saved_and_shown(h):
    await h.send(USER, "/start")
    assert await h.send(USER, "/time 7:45") == ["Дайджест будет приходить в 07:45."]
    (reply,) = await h.send(USER, "/tz Новосибирск")
    assert "Asia/Novosibirsk" in reply
    (reply,) = await h.send(USER, "/tz UTC+5")
    assert "UTC+5" in reply
    (reply,) = await h.send(USER, "/settings")
    assert "07:45" in reply and "UTC+5" in reply


async def test_unknown_timezone_is_refused(h):
    await h.send(USER, "/start")
    (reply,) = await h.send(USER, "/tz Mars/Base")
    assert "Не знаю" in reply or "не знаю" in reply
    assert (await h.services.subscribers.get(USER)).timezone == "Europe/Moscow"


async def test_unsubscribe_and_again(h):
    await h.send(USER, "/start")
    assert "отписались" in (await h.send(USER, "/unsubscribe"))[0]
    assert "и так не подписаны" in (await h.send(USER, "/unsubscribe"))[0]
    assert not (await h.services.subscribers.get(USER)).active


@pytest.mark.parametrize("text", ["/item abc", "/item", "/item -5", "/item 99999999999999999999"])
async def test_bad_item_argument(h, text):
    assert await h.send(USER, text) == ["Укажите номер сообщения: /item 12"]


async def test_missing_item(h):
    assert "нет" in (await h.send(USER, "/item 77"))[0]


async def test_admin_statement_with_html_and_markdown_is_stored_verbatim_and_shown_escaped(h):
    text = "date 2025-08-09\n<b>Жирно</b> & *звёзды* _подчёркивание_ [ссылка](http://x) `код`"
    (reply,) = await h.send(ADMIN, text)
    assert reply.startswith("✅ Сохранено: #1")
    item = await h.services.items.get(1)
    assert item.text == text.split("\n", 1)[1]
    (shown,) = await h.send(USER, "/item1")
    assert "&lt;b&gt;Жирно&lt;/b&gt; &amp; *звёзды*" in shown


async def test_duplicate_statement_names_the_original(h):
    await h.send(ADMIN, "Курс рубля укрепился.")
    (reply,) = await h.send(ADMIN, "курс  рубля УКРЕПИЛСЯ.")
    assert "уже есть: #1" in reply
    assert (await h.services.items.stats())["items"] == 1


async def test_empty_statement_is_refused(h):
    (reply,) = await h.send(ADMIN, "date 2025-08-09")
    assert reply.startswith("Не сохранено: пустой текст")


async def test_admin_command_by_non_admin_is_refused_and_changes_nothing(h):
    await h.send(ADMIN, "Заявление для удаления.")
    for command in ("/delete 1", "/stats", "/preview", "/senddigest"):
        assert await h.send(USER, command) == [NOT_ADMIN]
    assert await h.services.items.get(1) is not None


async def test_admin_deletes(h):
    await h.send(ADMIN, "Заявление для удаления.")
    assert await h.send(ADMIN, "/delete 1") == ["Сообщение #1 удалено."]
    assert await h.send(ADMIN, "/delete 1") == ["Сообщения #1 нет."]
    assert await h.send(ADMIN, "/delete abc") == ["Укажите номер: /delete 12"]


def _document(name: str, size: int, file_id: str = "f1", mime: str = "text/plain") -> Document:
    return Document(file_id=file_id, file_unique_id=file_id, file_name=name, mime_type=mime, file_size=size)


async def test_txt_document_is_a_statement(h):
    data = "date 2025-08-09\nСтатья из файла о ремонте дорог.".encode()
    h.session.files["f1"] = data
    (reply,) = await h.send(ADMIN, document=_document("news.txt", len(data)))
    assert reply.startswith("✅ Сохранено: #1")
    item = await h.services.items.get(1)
    assert item.source == "file:news.txt" and str(item.statement_date) == "2025-08-09"


async def test_ten_megabyte_document_is_refused_without_download(h):
    (reply,) = await h.send(ADMIN, document=_document("big.txt", 10 * 2**20))
    assert "слишком большой" in reply
    assert not any(isinstance(r, GetFile) for r in h.session.requests)


async def test_non_utf8_document_is_refused(h):
    h.session.files["f2"] = "Привет, мир".encode("cp1251")
    (reply,) = await h.send(ADMIN, document=_document("cp1251.txt", 11, "f2"))
    assert "UTF-8" in reply
    assert (await h.services.items.stats())["items"] == 0


async def test_non_text_document_is_refused(h):
    (reply,) = await h.send(ADMIN, document=_document("photo.jpg", 100, mime="image/jpeg"))
    assert ".txt" in reply


async def test_document_from_non_admin(h):
    (reply,) = await h.send(USER, document=_document("news.txt", 10))
    assert "только администраторы" in reply


async def test_plain_text_from_user_is_a_search_with_bold_matches(h):
    await h.send(ADMIN, "date 2025-08-09\nВизит Президента в Казань <важно> прошёл успешно.")
    (reply,) = await h.send(USER, "визита президента")
    assert "<b>Визит</b> <b>Президента</b>" in reply and "&lt;важно&gt;" in reply and "/item1" in reply


@pytest.mark.parametrize("query", ['"', "AND OR NOT", "a:b (", "*", "<script>", "**жирный** _x_", "🙂" * 50,
                                   "x" * 5000])
async def test_any_search_text_gets_an_answer(h, query):
    await h.send(ADMIN, "Курс рубля укрепился.")
    (reply,) = await h.send(USER, f"/search {query}")
    assert "ничего не нашлось" in reply or "Что искать" in reply
    assert "<script>" not in reply


async def test_search_date_filters(h):
    await h.send(ADMIN, "date 2025-08-01\nГаз подорожал в начале месяца.")
    await h.send(ADMIN, "date 2025-09-01\nГаз подешевел осенью.")
    (reply,) = await h.send(USER, "/search газ с:2025-08-01 по:2025-08-31")
    assert "/item1" in reply and "/item2" not in reply
    (reply,) = await h.send(USER, "/search газ с:вчера")
    assert "Не понимаю дату" in reply


async def test_empty_search_explains_usage(h):
    (reply,) = await h.send(USER, "/search")
    assert "Что искать" in reply


async def test_sticker_like_message_without_text_in_private(h):
    assert await h.send(USER) == ["Я понимаю команды (/help) и текст для поиска по новостям."]


async def test_stats_for_admin(h):
    await h.send(ADMIN, "Курс рубля укрепился.")
    await h.send(USER, "/start")
    (reply,) = await h.send(ADMIN, "/stats")
    assert "Сообщений: 1" in reply and "Подписчиков: 1" in reply and "Модель" in reply
    assert "Векторов для поиска по смыслу: нет" in reply  # the worker has not run in this test


async def test_preview_and_digest(h):
    await h.send(ADMIN, "date 2025-08-09\nКурс рубля укрепился на торгах.")
    replies = await h.send(ADMIN, "/preview")
    assert "Предпросмотр: 1" in replies[0] and "Дайджест за" in replies[1]
    (digest,) = await h.send(USER, "/digest")
    assert digest.startswith("<b>Дайджест за 9 августа 2025</b>") and "/item1" in digest


async def test_forwarded_channel_post_keeps_its_channel_and_date(h):
    from aiogram.types import MessageOriginChannel
    origin = MessageOriginChannel(date=datetime(2025, 8, 7, 22, 30, tzinfo=UTC), message_id=5,
                                  chat=Chat(id=-100500, type="channel", title="Новости", username="news_ru"))
    (reply,) = await h.send(ADMIN, "Пост канала о ремонте моста.", forward_origin=origin)
    assert reply.startswith("✅ Сохранено: #1")
    item = await h.services.items.get(1)
    assert item.source == "channel:@news_ru"
    assert str(item.statement_date) == "2025-08-08"  # 22:30 UTC is already the 8th in Moscow


async def test_photo_caption_from_admin_is_a_statement(h):
    (reply,) = await h.send(ADMIN, caption="Подпись к фото: открыт новый парк.")
    assert reply.startswith("✅ Сохранено")


# --- hostile and faulty input ---------------------------------------------------------------


def answered(requests: list) -> list[AnswerCallbackQuery]:
    return [r for r in requests if isinstance(r, AnswerCallbackQuery)]


@pytest.mark.parametrize("data", [f"sp:1:{2**70}", "sp:abc:0", "zz:1", "sp:1:-50", "sp:0:0", "dm:abc:1",
                                  f"dm:{2**70}:0", "dm:1:-1", "", "sp", "sp:1", "sp:1:0:9"])
async def test_forged_or_malformed_buttons_are_answered_and_show_nothing(h, data):
    await h.send(ADMIN, "Погода хорошая.")
    await h.send(USER, "погода")
    requests = await h.press(USER, data)
    assert len(answered(requests)) == 1  # the client stops spinning
    assert not [r for r in requests if isinstance(r, SendMessage | EditMessageText)]


async def test_another_chats_search_cannot_be_paged(h):
    await h.services.items.add_many([parse_statement(f"Секретная погода номер {i}.") for i in range(12)])
    (page,) = await h.send(USER, "секретная погода")
    assert "результаты 1–5" in page
    stranger = await h.press(3, "sp:1:5")
    assert answered(stranger)[0].text.startswith("Этот поиск устарел")
    assert not [r for r in stranger if isinstance(r, EditMessageText)]
    own = await h.press(USER, "sp:1:5")
    (edit,) = [r for r in own if isinstance(r, EditMessageText)]
    assert "результаты 6–10" in edit.text


async def test_saved_searches_expire_and_are_capped(db):
    from datetime import timedelta

    from storage.searches import SearchesRepo
    searches = SearchesRepo(db, max_chars=1000)
    old = datetime(2025, 8, 1, tzinfo=UTC)
    first = await searches.save(USER, "погода", now=old)
    assert await searches.get(first, USER, now=old + timedelta(days=6)) == "погода"
    assert await searches.get(first, USER, now=old + timedelta(days=8)) is None
    second = await searches.save(USER, "я" * 5000, now=old + timedelta(days=8))
    assert len(await searches.get(second, USER, now=old + timedelta(days=8))) == 1000
    (count,) = await db.fetchone("SELECT count(*) FROM searches")
    assert count == 1  # the expired one was deleted, not only hidden


@pytest.mark.parametrize("text", ["/item ²", "/item ٣", "/item 1.5", "/item 0", "/item #"])
async def test_odd_item_numbers_are_refused_politely(h, text):
    assert await h.send(USER, text) == ["Укажите номер сообщения: /item 12"]


async def test_item_with_a_huge_escaped_title_is_shown_within_limits(h):
    await h.services.items.add(parse_statement("x.", title="&" * 1000))
    replies = await h.send(USER, "/item 1")
    assert replies and all(message_length(r) <= MAX_MESSAGE_CHARS for r in replies)


async def test_search_for_a_giant_word_fits_one_message(h):
    await h.send(ADMIN, "Гигантслово " + "ы" * 6000)
    (reply,) = await h.send(USER, "Гигантслово")
    assert "<b>Гигантслово</b>" in reply and message_length(reply) <= MAX_MESSAGE_CHARS


async def test_document_with_a_caption_stores_the_file_with_the_caption_as_title(h):
    data = "Статья из файла о ремонте дорог.".encode()
    h.session.files["f1"] = data
    (reply,) = await h.send(ADMIN, document=_document("roads.txt", len(data)), caption="Ремонт дорог")
    assert reply.startswith("✅ Сохранено: #1")
    item = await h.services.items.get(1)
    assert item.text == "Статья из файла о ремонте дорог." and item.title == "Ремонт дорог"


async def test_document_with_a_date_caption_is_dated(h):
    data = "Статья из файла о ремонте дорог.".encode()
    h.session.files["f1"] = data
    await h.send(ADMIN, document=_document("roads.txt", len(data)), caption="date 2025-08-09")
    item = await h.services.items.get(1)
    assert str(item.statement_date) == "2025-08-09" and item.title is None


async def test_admin_document_in_a_group_is_not_a_statement(h):
    h.session.files["f1"] = "Статья из файла.".encode()
    assert await h.send(ADMIN, document=_document("a.txt", 30), chat_type="group") == []
    assert (await h.services.items.stats())["items"] == 0


async def test_far_future_date_is_refused(h):
    (reply,) = await h.send(ADMIN, "date 9999-12-31\nЗаявление из будущего.")
    assert "вне допустимого диапазона" in reply
    assert (await h.services.items.stats())["items"] == 0


async def test_a_post_that_cannot_be_stored_is_answered_with_why(tmp_path, monkeypatch):
    import sqlite3

    from storage.sqlite import SqliteDatabase

    monkeypatch.setattr("storage.sqlite.WRITE_WAIT_MS", 200)  # the bot's writes wait 0.2 s for the lock, not 15
    db = await SqliteDatabase.open(tmp_path / "busy.sqlite3")
    h = Harness(Services.build(load_settings(admin_ids=frozenset({ADMIN}), summarizer_backend="extractive"), db))
    other = sqlite3.connect(tmp_path / "busy.sqlite3", timeout=0)  # another process, writing
    other.execute("BEGIN IMMEDIATE")
    try:
        (reply,) = await h.send(ADMIN, "Важное заявление.")
        assert reply.startswith("⚠️ Не сохранено: база данных занята")
    finally:
        other.rollback()
        other.close()
    (stored,) = await h.send(ADMIN, "Важное заявление.")  # sent again when the lock is gone
    assert stored.startswith("✅ Сохранено: #1")
    await db.close()


async def test_replies_are_retried_through_server_errors(h):
    from bot.middlewares import ReplyRetryMiddleware
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    h.session.middleware(ReplyRetryMiddleware(sleep=sleep))
    h.session.failures = [TelegramServerError(SendMessage(chat_id=ADMIN, text="x"), "Bad Gateway")] * 4
    (reply,) = await h.send(ADMIN, "Заявление во время сбоя.")
    assert reply.startswith("✅ Сохранено: #1") and waits == [0.5, 1, 2, 4]


async def test_replies_give_up_after_bounded_retries(h):
    from bot.middlewares import ReplyRetryMiddleware

    async def sleep(_seconds):
        pass

    h.session.middleware(ReplyRetryMiddleware(sleep=sleep))
    h.session.failures = [TelegramServerError(SendMessage(chat_id=ADMIN, text="x"), "Bad Gateway")] * 20
    assert await h.send(ADMIN, "Заявление во время долгого сбоя.") == []  # the reply, then the apology: given up
    assert len(h.session.failures) == 20 - 6 - 6
    assert (await h.services.items.stats())["items"] == 1  # stored all the same
    assert h.services.metrics.handler_errors.labels("message")._value.get() == 1  # counted, logged once


async def test_digest_more_button_pages_through_the_stories(h):
    h.services.digest_maker.max_stories = 2
    for text in ("Школы готовы к учебному году.", "В Казани открыли станцию метро.", "Синоптики обещают жару.",
                 "Футболисты выиграли кубок.", "Мост через Волгу отремонтируют."):
        await h.send(ADMIN, f"date 2025-08-09\n{text}")
    start = len(h.session.requests)
    (first,) = await h.send(USER, "/digest")
    (sent,) = [r for r in h.session.requests[start:] if isinstance(r, SendMessage)]
    button = sent.reply_markup.inline_keyboard[0][0]
    assert "…и ещё 3 сюжета" in first and button.text == "Показать ещё 3 сюжета"
    requests = await h.press(USER, button.callback_data)
    (page,) = [r for r in requests if isinstance(r, SendMessage)]
    assert "Сюжеты 3–4 из 5" in page.text and page.text.count("• ") == 2
    assert any(isinstance(r, EditMessageReplyMarkup) for r in requests)  # the pressed button goes
    last = await h.press(USER, page.reply_markup.inline_keyboard[0][0].callback_data)
    (final,) = [r for r in last if isinstance(r, SendMessage)]
    assert "Сюжеты 5–5 из 5" in final.text and final.reply_markup is None
    gone = await h.press(USER, "dm:999:0:AAAAAAAAAAA")
    assert answered(gone)[0].text.startswith("Этот дайджест устарел")


async def test_a_digest_button_works_only_in_the_chat_it_was_sent_to(h):
    h.services.digest_maker.max_stories = 1
    await h.send(ADMIN, "date 2025-08-09\nШколы готовы к учебному году.")
    await h.send(ADMIN, "date 2025-08-09\nВ Казани открыли станцию метро.")
    await h.send(USER, "/follow метро")
    start = len(h.session.requests)
    await h.send(USER, "/digest")
    (sent,) = [r for r in h.session.requests[start:] if isinstance(r, SendMessage)]
    data = sent.reply_markup.inline_keyboard[0][0].callback_data
    stolen = await h.press(USER + 1, data)  # the same button, pressed in another chat
    assert answered(stolen)[0].text.startswith("Этот дайджест устарел")
    assert not [r for r in stolen if isinstance(r, SendMessage)]
    forged = DigestMoreCb.unpack(data)
    guessed = await h.press(USER + 1, DigestMoreCb(digest_id=forged.digest_id, offset=0, tag="A" * 11).pack())
    assert not [r for r in guessed if isinstance(r, SendMessage)]
    (own,) = [r for r in await h.press(USER, data) if isinstance(r, SendMessage)]
    assert "Школы" in own.text


async def test_item_lists_the_other_statements_of_its_digest_story(h):
    repost = "date 2025-08-09\nВ Казани открыли новую станцию метро «Дубравная-2». Она примет 20 тысяч пассажиров."
    await h.send(ADMIN, repost)
    await h.send(ADMIN, "date 2025-08-09\nКурс рубля укрепился на открытии торгов Московской биржи.")
    await h.send(ADMIN, repost + " Фото.")
    (before,) = await h.send(USER, "/item 1")
    assert "Тот же сюжет" not in before  # no digest has grouped it yet
    (digest,) = await h.send(USER, "/digest")
    assert "(2 источника)" in digest and "/item1" in digest
    (shown,) = await h.send(USER, "/item 1")
    assert "Тот же сюжет или событие — ещё 1 сообщение:</i>\n/item3 В Казани открыли" in shown
    (other,) = await h.send(USER, "/item3")
    assert "/item1 В Казани" in other and "/item2" not in other
