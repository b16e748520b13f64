"""Telegram HTML text: the one escape, how long a message is, and cutting text to fit one."""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial

MAX_MESSAGE_CHARS = 4096
_LONGEST_ESCAPE = len("&amp;")


def escape(text: str) -> str:
    """The one escape for Telegram HTML: & < > (quotes are safe outside attributes)."""
    return html.escape(text, quote=False)


def link(url: str, text: str) -> str:
    """`<a href>` to a web page (URLs come from sources: only http(s) ones are stored, quotes escaped here)."""
    return f'<a href="{html.escape(url, quote=True)}">{escape(text)}</a>'


def message_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), of the HTML source: never less than the shown text."""
    return len(text.encode("utf-16-le")) // 2


def fits(text: str, limit: int = MAX_MESSAGE_CHARS) -> bool:
    return message_length(text) <= limit


def longest_fitting(length: int, html: Callable[[int], str], limit: int) -> int:
    """The largest n ≤ length whose html(n) fits `limit` (0 if none). Binary search: html(n) grows with n,
    but escaping makes by how much unpredictable."""
    lo, hi = 0, length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(html(mid), limit) else (lo, mid - 1)
    return lo


def _escaped_prefix(text: str, n: int) -> str:
    return escape(text[:n])


def split_escaped(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Escaped chunks of a plain text, each fitting `limit`, cut at paragraph, sentence or word ends."""
    if limit < _LONGEST_ESCAPE * 2:  # one character must always fit, or no cut makes progress
        raise ValueError(f"limit {limit} is too small for escaped text")
    chunks, rest = [], text.strip()
    while rest:
        if fits(escape(rest), limit):
            chunks.append(escape(rest))
            break
        # The longest prefix whose escaped form fits: at least one character (the limit allows it).
        window = rest[:longest_fitting(min(len(rest), limit), partial(_escaped_prefix, rest), limit)]
        cut = max(window.rfind("\n\n"), window.rfind(". ") + 1)
        if cut <= len(window) // 2:
            space = window.rfind(" ")
            cut = space if space > len(window) // 2 else len(window)
        piece = escape(rest[:cut].strip())
        if piece:
            chunks.append(piece)
        rest = rest[cut:].strip()
    return chunks


def pack(header: str, entries: list[str], limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Messages of `header` then the entries, one per line, never cutting an entry (each must fit alone)."""
    messages, current = [], header
    for entry in entries:
        if current and not fits(current + "\n" + entry, limit):
            messages.append(current.rstrip())
            current = ""
        current = f"{current}\n{entry}" if current else entry
    if current.strip():
        messages.append(current.rstrip())
    return messages
