"""Admins: sources that post by themselves — /addsource, /sources, /delsource, /pause, /resume."""

from __future__ import annotations

from datetime import datetime, tzinfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.handlers.common import admin_only, answer_parts, item_number
from bot.services import Services
from digest.markup import escape, pack
from digest.render import plural, russian_date
from sources.poller import SourceError
from storage.sources import Source
from storage.statements import shorten

KIND_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed", "channel": "канал Telegram"}
SHOWN_URL_CHARS = 200
SHOWN_ERROR_CHARS = 200


def _when(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return f"{russian_date(local.date(), year=False)} {local:%H:%M}"


def _statements(n: int) -> str:
    return plural(n, "сообщение", "сообщения", "сообщений")


def source_line(s: Source, zone: tzinfo) -> str:
    title = f" <b>{escape(shorten(s.title, 100))}</b>" if s.title else ""
    lines = [f"#{s.id} · {KIND_NAMES.get(s.kind, s.kind)}{title}", escape(shorten(s.url, SHOWN_URL_CHARS))]
    ok = _when(s.last_success_at, zone) if s.last_success_at else "ещё не было"
    lines.append(f"Успешно прочитан: {ok} · {_statements(s.statements)}")
    if s.paused:
        lines.append(f"⏸ На паузе — /resume {s.id}")
    if s.last_error:
        retry = "" if s.paused else f", следующая попытка {_when(s.next_poll_at, zone)}"
        lines.append(f"⚠️ Ошибка: {escape(shorten(s.last_error, SHOWN_ERROR_CHARS))} "
                     f"(подряд: {s.failures}{retry})")
    return "\n".join(lines)


async def add_source(message: Message, command: CommandObject, services: Services) -> None:
    target = (command.args or "").strip()
    if not target or len(target) > 2000 or any(ch.isspace() for ch in target):
        await message.answer("Укажите адрес ленты, сайта или канала:\n/addsource https://example.ru/rss\n"
                             "/addsource @channel_name")
        return
    await message.answer("⏳ Проверяю источник…")
    try:
        added = await services.sources.add(target, added_by=message.from_user.id if message.from_user else None)
    except SourceError as exc:
        await message.answer(f"Не добавлено: {escape(str(exc))}.")
        return
    s, minutes = added.source, services.settings.sources_poll_minutes
    head = f"✅ Источник #{s.id} добавлен" if added.new else f"Этот источник уже есть: #{s.id}"
    title = f": <b>{escape(shorten(s.title, 100))}</b>" if s.title else ""
    await message.answer(
        f"{head}{title} ({KIND_NAMES.get(s.kind, s.kind)}).\n"
        f"Записей сейчас: {added.feed.total}, сохранено новых: {_statements(added.stored)}.\n"
        f"Дальше проверяю каждые {minutes:g} мин. Все источники — /sources")


async def list_sources(message: Message, services: Services) -> None:
    found = await services.sources.sources.all()
    if not found:
        await message.answer("Источников пока нет. Добавить: /addsource https://example.ru/rss или @channel_name")
        return
    zone = services.settings.zone
    header = f"<b>Источники ({len(found)})</b>\nУдалить — /delsource N, пауза — /pause N\n"
    await answer_parts(message, pack(header, [f"{source_line(s, zone)}\n" for s in found]))


async def _change(message: Message, command: CommandObject, services: Services, action: str) -> None:
    number = item_number(command.args)
    if number is None:
        await message.answer(f"Укажите номер источника: /{action} 3 (номера — в /sources)")
        return
    sources = services.sources.sources
    if action == "delsource":
        done = await sources.remove(number)
        answer = f"Источник #{number} удалён; его сообщения остаются в базе." if done else ""
    else:
        done = await sources.set_paused(number, action == "pause", services.sources.clock())
        answer = (f"⏸ Источник #{number} на паузе. Продолжить — /resume {number}" if action == "pause"
                  else f"▶️ Источник #{number} снова читается.")
    await message.answer(answer if done else f"Источника #{number} нет. Список — /sources")


async def delete_source(message: Message, command: CommandObject, services: Services) -> None:
    await _change(message, command, services, "delsource")


async def pause_source(message: Message, command: CommandObject, services: Services) -> None:
    await _change(message, command, services, "pause")


async def resume_source(message: Message, command: CommandObject, services: Services) -> None:
    await _change(message, command, services, "resume")


async def refuse(message: Message) -> None:
    # /pause and /resume sound like a subscriber's own digest: say where that lives
    await message.answer("Источники новостей меняют только администраторы. "
                         "Приостановить свой дайджест — /rhythm пауза.")


SOURCE_COMMANDS = ("addsource", "sources", "delsource", "pause", "resume")


def build_router() -> Router:
    router = Router(name="sources")
    router.message.register(add_source, Command("addsource"), admin_only)
    router.message.register(list_sources, Command("sources"), admin_only)
    router.message.register(delete_source, Command("delsource"), admin_only)
    router.message.register(pause_source, Command("pause"), admin_only)
    router.message.register(resume_source, Command("resume"), admin_only)
    router.message.register(refuse, Command(*SOURCE_COMMANDS))
    return router
