"""What users type for a time zone: an IANA name, a Russian city, or a UTC offset."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

CITIES = {
    "москва": "Europe/Moscow", "санкт-петербург": "Europe/Moscow", "питер": "Europe/Moscow",
    "спб": "Europe/Moscow", "казань": "Europe/Moscow", "нижний новгород": "Europe/Moscow",
    "калининград": "Europe/Kaliningrad", "самара": "Europe/Samara", "ижевск": "Europe/Samara",
    "волгоград": "Europe/Volgograd", "саратов": "Europe/Saratov", "ульяновск": "Europe/Ulyanovsk",
    "екатеринбург": "Asia/Yekaterinburg", "челябинск": "Asia/Yekaterinburg", "пермь": "Asia/Yekaterinburg",
    "уфа": "Asia/Yekaterinburg", "тюмень": "Asia/Yekaterinburg", "омск": "Asia/Omsk",
    "новосибирск": "Asia/Novosibirsk", "барнаул": "Asia/Barnaul", "томск": "Asia/Tomsk",
    "кемерово": "Asia/Novokuznetsk", "новокузнецк": "Asia/Novokuznetsk", "красноярск": "Asia/Krasnoyarsk",
    "иркутск": "Asia/Irkutsk", "улан-удэ": "Asia/Irkutsk", "чита": "Asia/Chita", "якутск": "Asia/Yakutsk",
    "владивосток": "Asia/Vladivostok", "хабаровск": "Asia/Vladivostok", "магадан": "Asia/Magadan",
    "южно-сахалинск": "Asia/Sakhalin", "петропавловск-камчатский": "Asia/Kamchatka", "камчатка": "Asia/Kamchatka",
    "минск": "Europe/Minsk", "киев": "Europe/Kyiv", "астана": "Asia/Almaty", "алматы": "Asia/Almaty",
    "ташкент": "Asia/Tashkent", "ереван": "Asia/Yerevan", "тбилиси": "Asia/Tbilisi", "баку": "Asia/Baku",
    "лондон": "Europe/London", "берлин": "Europe/Berlin", "париж": "Europe/Paris", "нью-йорк": "America/New_York",
    "дубай": "Asia/Dubai", "стамбул": "Europe/Istanbul", "пекин": "Asia/Shanghai", "токио": "Asia/Tokyo",
}
_OFFSET_RE = re.compile(r"(?:utc|gmt|мск)?\s*([+-])\s*(\d{1,2})(?::?(00))?", re.IGNORECASE)


def parse_timezone(text: str) -> str | None:
    """An IANA zone name for what the user typed, or None."""
    value = " ".join(text.strip().split())
    if not value:
        return None
    lowered = value.lower().replace("ё", "е")
    if lowered in CITIES:
        return CITIES[lowered]
    if lowered in ("utc", "gmt", "utc+0", "utc0"):
        return "UTC"
    if lowered.startswith("мск"):  # "МСК+4": Moscow (UTC+3) plus hours
        match = _OFFSET_RE.fullmatch(lowered[3:].strip())
        if match:
            hours = 3 + int(match.group(2)) * (1 if match.group(1) == "+" else -1)
            return _etc_zone(hours)
        return "Europe/Moscow" if lowered == "мск" else None
    match = _OFFSET_RE.fullmatch(lowered)
    if match and (lowered.startswith(("utc", "gmt")) or value[0] in "+-"):
        return _etc_zone(int(match.group(2)) * (1 if match.group(1) == "+" else -1))
    for name in (value, value.replace(" ", "_")):
        canonical = _canonical(name)
        if canonical:
            return canonical
    return None


def _etc_zone(hours: int) -> str | None:
    if not -12 <= hours <= 14:
        return None
    # POSIX sign: Etc/GMT-3 is UTC+3.
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


def _canonical(name: str) -> str | None:
    if "/" not in name and name.upper() != "UTC":
        return None
    lookup = {z.lower(): z for z in available_timezones()}
    zone = lookup.get(name.lower())
    if zone is None:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return zone


def describe_timezone(zone: str) -> str:
    """Europe/Moscow (UTC+3); Etc/GMT-5 reads as UTC+5."""
    from datetime import datetime

    offset = datetime.now(ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "-"
    hhmm = f"{abs(minutes) // 60}" + (f":{abs(minutes) % 60:02d}" if minutes % 60 else "")
    utc = f"UTC{sign}{hhmm}" if minutes else "UTC"
    return utc if zone.startswith("Etc/") or zone == "UTC" else f"{zone} ({utc})"
