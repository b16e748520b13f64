"""Admins: statements (text, forwarded posts, .txt files) and /delete, /stats, /preview, /senddigest."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, MessageOriginChannel, MessageOriginChat, MessageOriginUser

from bot import texts
from bot.delivery import Fanout
from bot.handlers.common import admin_only, answer_digest, item_number
from bot.ingest import Rejected, read_text
from bot.services import Services
from digest.markup import escape
from digest.render import stories_word
from storage.base import DatabaseBusy
from storage.items import utc_now
from storage.statements import NewItem, StatementError, parse_statement

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 1024 * 1024  # a statement is at most 100,000 characters


def _source(message: Message) -> str:
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        name = f"@{origin.chat.username}" if origin.chat.username else origin.chat.title or str(origin.chat.id)
        return f"channel:{name}"
    if isinstance(origin, MessageOriginChat):
        return f"chat:{origin.sender_chat.title or origin.sender_chat.id}"
    if isinstance(origin, MessageOriginUser):
        return f"forward:{origin.sender_user.full_name}"
    return f"admin:{message.from_user.id if message.from_user else message.chat.id}"


async def _store(message: Message, services: Services, entry) -> None:
    """Store a statement and tell the admin its id, or that it was not stored and why: never silence."""
    if isinstance(entry, Rejected):
        await message.reply(f"Не сохранено: {escape(entry.reason)}.")
        return
    try:
        result = await services.intake.add(entry, message.chat.id, message.message_id)
    except Exception as exc:
        log.exception("statement from chat %s not stored", message.chat.id)
        reason = "база данных занята другим процессом" if isinstance(exc, DatabaseBusy) else "ошибка базы данных"
        await message.reply(f"⚠️ Не сохранено: {reason}. Пришлите это сообщение ещё раз чуть позже.")
        return
    if result.duplicate:
        await message.reply(f"Такой текст уже есть: #{result.item_id} (/item{result.item_id}). "
                            "Второй раз не сохраняю.")
    else:
        await message.reply(f"✅ Сохранено: #{result.item_id}. Краткое содержание пришлю, когда будет готово.")


async def statement_text(message: Message, services: Services) -> None:
    origin = message.forward_origin  # a forwarded post is dated by when it was first published
    posted = origin.date.astimezone(services.settings.zone).date() if origin else None
    entry: NewItem | Rejected
    try:
        entry = parse_statement(message.text or message.caption or "", source=_source(message),
                                statement_date=posted)
    except StatementError as exc:
        entry = Rejected("message", str(exc))
    await _store(message, services, entry)


async def statement_file(message: Message, bot: Bot, services: Services, is_admin: bool) -> None:
    """A .txt file in a private chat: its text is the statement; a caption, if any, is its title
    (or its `date YYYY-MM-DD` line)."""
    if not is_admin:
        await message.answer("Присылать новости могут только администраторы. Поиск — просто напишите слова.")
        return
    doc = message.document
    if doc is None:  # never: the router sends documents only
        return
    name = doc.file_name or "document"
    if not (name.lower().endswith(".txt") or doc.mime_type == "text/plain"):
        await message.reply("Пришлите текстовый файл .txt в кодировке UTF-8.")
        return
    if doc.file_size and doc.file_size > MAX_DOCUMENT_BYTES:
        await message.reply(f"Файл слишком большой ({doc.file_size / 2**20:.1f} МБ): одно сообщение — "
                            "не больше 1 МБ текста. Разделите его на части.")
        return
    buffer = io.BytesIO()
    await bot.download(doc, destination=buffer)
    data = buffer.getvalue()
    if len(data) > MAX_DOCUMENT_BYTES:
        await message.reply("Файл слишком большой: одно сообщение — не больше 1 МБ текста.")
        return
    for entry in read_text(data, name, caption=message.caption):
        await _store(message, services, entry)


async def delete(message: Message, command: CommandObject, services: Services) -> None:
    number = item_number(command.args)
    if number is None:
        await message.answer("Укажите номер: /delete 12")
        return
    deleted = await services.items.delete(number)
    await message.answer(f"Сообщение #{number} удалено." if deleted else f"Сообщения #{number} нет.")


async def stats(message: Message, services: Services) -> None:
    items = await services.items.stats()
    subs = await services.subscribers.counts()
    deliveries = await services.deliveries.count_by_status()
    methods = await services.summaries.count_by_method()
    made = ", ".join(f"{escape(m)}: {n}" for m, n in methods.items()) or "нет"
    vectors = await services.worker.embeddings.count_by_model()
    embedded = ", ".join(f"{escape(m)}: {n}" for m, n in vectors.items()) or "нет"
    sources = await services.sources.sources.all()
    failing = sum(1 for s in sources if s.last_error)
    sources_line = f"Источников: {len(sources)}" + (f", с ошибкой: {failing} (/sources)" if failing else "")
    await message.answer(
        "<b>Статистика</b>\n"
        f"Сообщений: {items['items']} (даты {items['first_date'] or '—'} … {items['last_date'] or '—'})\n"
        f"Подписчиков: {subs['active']} (всего было {subs['total']})\n"
        f"{sources_line}\n"
        f"Дайджестов отправлено: {deliveries.get('sent', 0)}, ждут отправки: {deliveries.get('pending', 0)}, "
        f"заблокировали бота: {deliveries.get('blocked', 0)}\n"
        f"Кратких содержаний: {made}\n"
        f"Векторов для поиска по смыслу: {embedded}\n"
        f"Модель: {escape(services.model_in_use())}")


async def preview(message: Message, services: Services) -> None:
    now = utc_now()
    sub = await services.subscribers.get(message.chat.id)
    start = sub.last_digest_at if sub and sub.last_digest_at else now - timedelta(days=1)
    zone = services.settings.zone
    digest, count = await services.digest_maker.for_arrivals(start, now, now.astimezone(zone).date(),
                                                             await services.preferences.get(message.chat.id))
    await message.answer(f"<i>Предпросмотр: {stories_word(count)} с последнего дайджеста.</i>")
    await answer_digest(message, digest, services.settings.button_key)


async def send_digest(message: Message, fanout: Fanout) -> None:
    await message.answer("Отправляю сегодняшний дайджест подписчикам…")
    report = await fanout.run(utc_now(), manual=True)
    await message.answer(f"Готово. {escape(report.describe())}")


async def refuse(message: Message) -> None:
    await message.answer(texts.NOT_ADMIN)


ADMIN_COMMANDS = ("delete", "stats", "preview", "senddigest")


def build_router() -> Router:
    router = Router(name="admin")
    # Statements come from private chats only. A document's caption belongs to the document.
    private = F.chat.type == "private"
    statement = (F.text & ~F.text.startswith("/")) | (F.caption & ~F.document)
    router.message.register(statement_text, private, admin_only, statement)
    router.message.register(statement_file, private, F.document)
    router.message.register(delete, Command("delete"), admin_only)
    router.message.register(stats, Command("stats"), admin_only)
    router.message.register(preview, Command("preview"), admin_only)
    router.message.register(send_digest, Command("senddigest"), admin_only)
    router.message.register(refuse, Command(*ADMIN_COMMANDS))  # anyone else: a polite no, nothing changes
    return router
