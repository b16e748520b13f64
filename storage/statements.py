"""What a statement is before it is stored: its text, statement date and fingerprint."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

MAX_TEXT_CHARS = 100_000

_DATE_LINE_RE = re.compile(r"^\s*date\s*[:=]?\s*(\d{4}-\d{2}-\d{2})\s*$", re.IGNORECASE)
_SPACES_RE = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
# Zero-width and bidi control characters: invisible, but they break hashing and search.
_INVISIBLE_RE = re.compile(r"[\u200c-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")


class StatementError(ValueError):
    """A statement that cannot be stored; the message is safe to show to its sender."""


@dataclass(frozen=True, slots=True)
class NewItem:
    text: str
    statement_date: date | None = None  # None: the arrival day
    title: str | None = None
    source: str = ""

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


def clean_text(text: str) -> str:
    """NFC, no invisible characters, one space between words, no blank-line runs."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE_RE.sub("", text)
    lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def content_hash(text: str) -> str:
    """Fingerprint that ignores case, ё/е and whitespace, so a re-post is caught."""
    folded = " ".join(text.casefold().replace("ё", "е").split())
    return hashlib.sha256(folded.encode()).hexdigest()


def parse_statement(raw: str, *, source: str = "", title: str | None = None,
                    statement_date: date | None = None) -> NewItem:
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
    if not text or not any(ch.isalnum() for ch in text):
        raise StatementError("пустой текст")
    if len(text) > MAX_TEXT_CHARS:
        raise StatementError(f"текст длиннее {MAX_TEXT_CHARS:,} символов".replace(",", " "))
    title = clean_text(title) if title else None
    return NewItem(text=text, statement_date=statement_date, title=title or None, source=source)
