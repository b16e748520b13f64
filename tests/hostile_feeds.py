"""Feed bodies written to make a parser slow: runs of what parsers scan ahead for. Used by the tests and by
bench.sources (the bot's reply latency while they are polled)."""

from __future__ import annotations

_HEAD = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile</title><item><title>'
_TAIL = ("</title><link>https://example.ru/1</link><description>Обычный текст.</description></item></channel>"
         "</rss>").encode()


def hostile_bodies(size: int) -> dict[str, tuple[bytes, str]]:
    """name → (body, content type), each about `size` bytes."""

    def run(unit: bytes) -> bytes:
        return unit * (size // len(unit))

    rss = "application/rss+xml"
    return {
        "doctype": (run(b"<!DOCTYPE a [") + _HEAD + b"x" + _TAIL, rss),
        "escaped tag run in a title": (_HEAD + run(b"&lt;a") + _TAIL, rss),
        "tag run (not XML)": (_HEAD + run(b"<a") + _TAIL, rss),
        "comment run": (_HEAD + run(b"<!--") + _TAIL, rss),
        "entity run": (_HEAD + run(b"&amp;&#1;&#x") + _TAIL, rss),
        "nested tags": (_HEAD + run(b"<b><i>") + _TAIL, rss),
        "page of tag runs": (b"<!doctype html><html><head>" + run(b"<link rel=alternate ") + b"</head></html>",
                             "text/html"),
        "channel page of tag runs": (b'<html><div class="tgme_widget_message" data-post="x/1">' + run(b"<a")
                                     + b"</div></html>", "text/html"),
    }
