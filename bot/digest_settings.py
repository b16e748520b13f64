"""A chat's digest settings changed from what a user typed: time, time zone, rhythm, size. Shared by a chat's
own commands (/time, /tz, /rhythm, /size) and by /channel for a channel's digest; each returns the reply.

`command` is how the user reaches the setting here ("/" in a chat, "/channel @name " for a channel), so the
examples in the replies are ones they can type. Who may change the chat is checked before these are called."""

from __future__ import annotations

from bot.config import parse_hhmm
from bot.services import Services
from bot.timezones import describe_timezone, parse_timezone
from digest.markup import escape
from digest.render import stories_word

MAX_SIZE = 200
WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
_WEEKDAY_FORMS = (("пн", "пон", "mon", "monday"), ("вт", "вто", "tue", "tuesday"), ("ср", "среду", "wed", "wednesday"),
                  ("чт", "чет", "thu", "thursday"), ("пт", "пят", "пятницу", "fri", "friday"),
                  ("сб", "суб", "субботу", "sat", "saturday"), ("вс", "вос", "воскр", "sun", "sunday"))
_WEEKDAY_WORDS = {word: n for n, forms in enumerate(_WEEKDAY_FORMS) for word in (WEEKDAYS[n], *forms)}
_FILLER_WORDS = ("день", "в", "во", "неделю", "по", "раз")  # "раз в неделю в пятницу 18:00"
_RHYTHM_WORDS = {"daily": "daily", "ежедневно": "daily", "каждый": "daily", "twice": "twice", "дважды": "twice",
                 "weekly": "weekly", "еженедельно": "weekly", "раз": "weekly", "pause": "paused",
                 "пауза": "paused", "стоп": "paused"}


def defaults(services: Services) -> tuple[str, str]:
    return services.settings.digest_time.strftime("%H:%M"), services.settings.timezone


def rhythm_usage(command: str = "/") -> str:
    rhythm = f"{command}rhythm"
    return (f"Как часто присылать дайджест:\n<code>{rhythm} ежедневно</code>\n"
            f"<code>{rhythm} дважды 09:00 21:00</code>\n<code>{rhythm} еженедельно пн</code> (или <code>"
            f"еженедельно пятница 18:00</code>)\n<code>{rhythm} пауза</code> — не присылать, пока не включите снова")


def describe_rhythm(sub) -> str:
    if sub.rhythm == "twice":
        return f"дважды в день, в {sub.digest_time} и {sub.second_time}"
    if sub.rhythm == "weekly":
        return f"раз в неделю: {WEEKDAYS[sub.weekday or 0]}, {sub.digest_time}"
    if sub.rhythm == "paused":
        return "на паузе (/rhythm ежедневно — включить)"
    return f"каждый день в {sub.digest_time}"


def parse_rhythm(text: str) -> tuple[str, list[str], int | None] | None:
    """`дважды 09:00 21:00` → ("twice", ["09:00", "21:00"], None); None if it is not a rhythm."""
    words = text.lower().replace(",", " ").split()
    if not words or words[0] not in _RHYTHM_WORDS:
        return None
    rhythm, times, weekday = _RHYTHM_WORDS[words[0]], [], None
    for word in words[1:]:
        if word in _FILLER_WORDS:
            continue
        if word in _WEEKDAY_WORDS:
            weekday = _WEEKDAY_WORDS[word]
            continue
        try:
            times.append(parse_hhmm(word).strftime("%H:%M"))
        except ValueError:
            return None
    return rhythm, times, weekday


async def set_time(services: Services, chat_id: int, args: str | None, command: str = "/") -> str:
    if not args:
        return f"Укажите время в формате ЧЧ:ММ, например: {command}time 08:30"
    try:
        value = parse_hhmm(args).strftime("%H:%M")
    except ValueError:
        return (f"Не понимаю время «{escape(args[:20])}». Нужно ЧЧ:ММ от 00:00 до 23:59, например: "
                f"{command}time 08:30")
    if await services.subscribers.get(chat_id) is None:
        await services.subscribers.subscribe(chat_id, value, services.settings.timezone)
    await services.subscribers.update(chat_id, digest_time=value)
    return f"Дайджест будет приходить в {value}."


async def set_timezone(services: Services, chat_id: int, args: str | None, command: str = "/") -> str:
    zone = parse_timezone(args or "")
    if zone is None:
        shown = f"«{escape(args[:40])}» — не" if args else "Не"
        return (f"{shown} знаю такого часового пояса. Примеры: {command}tz Europe/Moscow, {command}tz Новосибирск, "
                f"{command}tz UTC+3")
    if await services.subscribers.get(chat_id) is None:
        await services.subscribers.subscribe(chat_id, defaults(services)[0], zone)
    await services.subscribers.update(chat_id, timezone=zone)
    return f"Часовой пояс: {escape(describe_timezone(zone))}."


async def set_rhythm(services: Services, chat_id: int, args: str | None, command: str = "/") -> str:
    sub = await services.subscribers.get(chat_id)
    if not args:
        return (f"Сейчас: {describe_rhythm(sub)}.\n\n" if sub else "") + rhythm_usage(command)
    parsed = parse_rhythm(args)
    if parsed is None:
        return "Не понял. " + rhythm_usage(command)
    rhythm, times, weekday = parsed
    if rhythm == "twice" and len(times) != 2 or rhythm != "twice" and len(times) > 1:
        return "Для «дважды» нужны два времени, для остальных — не больше одного. " + rhythm_usage(command)
    if rhythm == "twice" and times[0] == times[1]:
        return "Два раза в одно и то же время — это один. Укажите два разных времени."
    if rhythm == "weekly" and weekday is None:
        return f"Укажите день недели: <code>{command}rhythm еженедельно пн</code>."
    if sub is None:
        await services.subscribers.subscribe(chat_id, *defaults(services))
    await services.subscribers.set_rhythm(chat_id, rhythm, digest_time=times[0] if times else None,
                                          second_time=times[1] if rhythm == "twice" else None,
                                          weekday=weekday if rhythm == "weekly" else None)
    return f"Готово: дайджест {describe_rhythm(await services.subscribers.get(chat_id))}."


async def set_size(services: Services, chat_id: int, args: str | None, command: str = "/") -> str:
    default = services.settings.digest_max_stories
    arg = (args or "").strip()
    if not arg:
        prefs = await services.preferences.get(chat_id)
        return (f"В дайджесте {stories_word(prefs.size or default)} на первой странице, остальные — по кнопке. "
                f"Изменить: <code>{command}size 10</code> (от 1 до {MAX_SIZE}).")
    if not arg.isascii() or not arg.isdigit() or not 1 <= int(arg) <= MAX_SIZE:
        return f"Нужно число от 1 до {MAX_SIZE}, например <code>{command}size 10</code>. Ничего не изменил."
    if await services.subscribers.get(chat_id) is None:
        return "Сначала подпишитесь: /subscribe"
    size = int(arg)
    await services.preferences.set_size(chat_id, None if size == default else size)
    return f"Готово: {stories_word(size)} на первой странице дайджеста, остальные — по кнопке."
