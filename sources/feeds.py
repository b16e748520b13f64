"""A fetched document as a feed: RSS 0.9x/1.0/2.0 and Atom (feedparser), JSON Feed, or a public channel's
web preview; a web page that only advertises its feed says where that feed is."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import feedparser

from sources.html import channel_page, feed_links, html_to_text, is_channel_page

MAX_ENTRIES = 200      # per poll: a feed of 100,000 entries costs its parse, not 100,000 statements
MAX_LINK_CHARS = 2000
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset=["']?([\w-]+)""", re.IGNORECASE)


class NotAFeed(Exception):
    """The document is no feed; `links` are feeds it advertises (a web page), if any."""

    def __init__(self, message: str, links: list[str] | None = None) -> None:
        super().__init__(message)
        self.links = links or []

    def __reduce__(self):  # raised in a reader process: the links cross back too
        return NotAFeed, (str(self), self.links)


@dataclass(frozen=True, slots=True)
class Entry:
    key: str                    # the entry's id, else its link, else a hash of its text
    title: str | None
    text: str
    link: str | None            # http(s) only: it becomes an href in digests
    published: datetime | None  # UTC


@dataclass(frozen=True, slots=True)
class Feed:
    kind: str                   # rss | atom | json | channel
    title: str
    entries: list[Entry]        # newest first, at most MAX_ENTRIES
    total: int                  # entries the document holds


def safe_link(link: object) -> str | None:
    """A link that may be shown as an href: http or https, of a sane length (no `javascript:`)."""
    if not isinstance(link, str):
        return None
    link = link.strip()
    if len(link) > MAX_LINK_CHARS or urlsplit(link).scheme not in ("http", "https"):
        return None
    return link


def _key(entry_id: object, link: str | None, title: str | None, text: str) -> str:
    if isinstance(entry_id, str | int) and str(entry_id).strip():
        return str(entry_id).strip()[:500]
    if link:
        return link[:500]
    return "sha256:" + hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()


def _plain(value: object) -> str:
    return html_to_text(value).strip() if isinstance(value, str) else ""


def _decode_html(body: bytes, content_type: str) -> str:
    match = re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE) or _CHARSET_RE.search(body[:4096])
    charset = match.group(1) if match else None
    if isinstance(charset, bytes):
        charset = charset.decode("ascii", "replace")
    try:
        return body.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")


def _looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:512].lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def read_feed(body: bytes, content_type: str, url: str, post_base: str = "https://t.me/") -> Feed:
    """The feed in a fetched document, or NotAFeed."""
    head = body[:64].lstrip()
    if head.startswith((b"{", b"[")) or "json" in content_type.lower():
        return _json_feed(body)
    if _looks_like_html(body, content_type):
        page = _decode_html(body, content_type)
        if is_channel_page(page):
            return _channel(page, post_base)
        links = feed_links(page, url)
        raise NotAFeed("это веб-страница без ленты" if not links else "это веб-страница", links)
    return _xml_feed(body, content_type)


def without_doctype(body: bytes) -> bytes:
    """The document without its DOCTYPE and internal subset: feeds need no entities of their own, and nested
    ones are the "billion laughs" (the XML parser's own limit stops them only after seconds and tens of
    megabytes). A few `find`s, linear in the body, whatever it holds (a regular expression was quadratic on
    `<!DOCTYPE a [` repeated). A subset that never closes leaves nothing after it: no feed there."""
    start = body.lower().find(b"<!doctype")
    if start < 0:
        return body
    name_end = min((i for i in (body.find(b">", start), body.find(b"[", start)) if i >= 0), default=-1)
    if name_end < 0:
        return body[:start]
    if body[name_end:name_end + 1] == b"[":
        subset_end = body.find(b"]", name_end)
        name_end = body.find(b">", subset_end) if subset_end >= 0 else -1
        if name_end < 0:
            return body[:start]
    return body[:start] + body[name_end + 1:]


def _xml_feed(body: bytes, content_type: str) -> Feed:
    body = without_doctype(body)
    parsed = feedparser.parse(body, response_headers={"content-type": content_type} if content_type else None,
                              sanitize_html=False, resolve_relative_uris=False)
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        raise NotAFeed("это не RSS, Atom или JSON Feed")
    entries = []
    for e in parsed.entries[:MAX_ENTRIES]:
        title = _plain(e.get("title")) or None
        bodies = [_plain(c.get("value")) for c in e.get("content") or []] + [_plain(e.get("summary"))]
        text = max(bodies, key=len)
        link = safe_link(e.get("link"))
        moment = e.get("published_parsed") or e.get("updated_parsed")
        published = datetime.fromtimestamp(calendar.timegm(moment), UTC) if moment else None
        entries.append(Entry(_key(e.get("id"), link, title, text), title, text or title or "", link, published))
    kind = "atom" if version.startswith("atom") else "rss"
    return Feed(kind, _plain(parsed.feed.get("title")), entries, len(parsed.entries))


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _json_feed(body: bytes) -> Feed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise NotAFeed("JSON повреждён") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise NotAFeed("это JSON, но не JSON Feed")
    items = [it for it in doc.get("items") or [] if isinstance(it, dict)] if isinstance(doc.get("items"), list) else []
    entries = []
    for it in items[:MAX_ENTRIES]:
        title = _plain(it.get("title")) or None
        text = max(_plain(it.get("content_text")), _plain(it.get("content_html")), _plain(it.get("summary")), key=len)
        link = safe_link(it.get("url"))
        entries.append(Entry(_key(it.get("id"), link, title, text), title, text or title or "", link,
                             _moment(it.get("date_published") or it.get("date_modified"))))
    return Feed("json", _plain(doc.get("title")), entries, len(items))


def _channel(page: str, post_base: str) -> Feed:
    parsed = channel_page(page, post_base)
    posts = list(reversed(parsed.posts))  # the page shows the newest last
    entries = [Entry(p.key, None, p.text.strip(), safe_link(p.link), _moment(p.published))
               for p in posts[:MAX_ENTRIES]]
    return Feed("channel", parsed.title, entries, len(posts))
