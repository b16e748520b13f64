"""What a statement is before it is stored: its text, statement date and fingerprint."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MAX_TEXT_CHARS = 100_000
MAX_TITLE_CHARS = 300
EARLIEST_DATE = date(1900, 1, 1)
# A statement may be dated tomorrow at most (time zones run ahead of UTC), not 9999-12-31: a far
# future date would be the "latest day" of /digest for ever.
DAYS_AHEAD = 1

_DATE_LINE_RE = re.compile(r"^\s*date\s*[:=]?\s*(\d{4}-\d{2}-\d{2})\s*$", re.IGNORECASE)
_SPACES_RE = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
# Zero-width and bidi control characters: invisible, but they break hashing and search.
_INVISIBLE_RE = re.compile(r"[\u200c-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
# Control characters (NUL and the like; tab and newline are spacing) and lone surrogates, which
# cannot even be stored as UTF-8.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class StatementError(ValueError):
    """A statement that cannot be stored; the message is safe to show to its sender."""


@dataclass(frozen=True, slots=True)
class NewItem:
    text: str
    statement_date: date | None = None  # None: the arrival day
    title: str | None = None
    source: str = ""
    link: str | None = None  # the original on the web, for statements from a source

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


def clean_text(text: str) -> str:
    """NFC, no invisible characters, one space between words, no blank-line runs."""
    text = _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = unicodedata.normalize("NFC", _INVISIBLE_RE.sub("", text))
    lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def content_hash(text: str) -> str:
    """Fingerprint that ignores case, ё/е and whitespace, so a re-post is caught."""
    folded = " ".join(text.casefold().replace("ё", "е").split())
    return hashlib.sha256(folded.encode()).hexdigest()


def is_date_line(line: str) -> bool:
    return bool(_DATE_LINE_RE.match(line))


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters of plain text, cut at a word end where one is near, with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space > limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:—-") + "…"


def check_date(day: date, today: date | None = None) -> date:
    today = today or datetime.now(UTC).date()
    if not EARLIEST_DATE <= day <= today + timedelta(days=DAYS_AHEAD):
        raise StatementError(f"дата {day.isoformat()} вне допустимого диапазона (не позже завтрашнего дня)")
    return day


def parse_statement(raw: str, *, source: str = "", title: str | None = None, statement_date: date | None = None,
                    today: date | None = None, link: str | None = None) -> NewItem:
    """A raw statement (maybe starting with `date YYYY-MM-DD`) as an item to store."""
    text = clean_text(raw)
    first, _, rest = text.partition("\n")
    match = _DATE_LINE_RE.match(first)
    if match:
        try:
            statement_date = date.fromisoformat(match.group(1))
        except ValueError:
            raise StatementError(f"неверная дата в первой строке: {match.group(1)}") from None
        text = rest.strip()
    if statement_date is not None:
        check_date(statement_date, today)
    if not text or not any(ch.isalnum() for ch in text):
        raise StatementError("пустой текст")
    if len(text) > MAX_TEXT_CHARS:
        raise StatementError(f"текст длиннее {MAX_TEXT_CHARS:,} символов".replace(",", " "))
    title = shorten(" ".join(clean_text(title).split()), MAX_TITLE_CHARS) if title else None
    return NewItem(text=text, statement_date=statement_date, title=title or None, source=source, link=link)
