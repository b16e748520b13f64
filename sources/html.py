"""Small HTML readers: text of an HTML fragment, the feeds a page advertises, a public channel's web preview."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json",
              "application/rdf+xml")
_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section", "article"}
_HIDDEN = {"script", "style", "template", "noscript", "head"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def _defanged(markup: str) -> str:
    """`markup` with every `<` that no `>` closes before the next `<` written as `&lt;` (text to the parser).
    html.parser rescans from such a `<` to the end of the input, again at each one: `<a` repeated 40,000 times
    took seconds (quadratic). One split, linear. Only a tag with a bare `<` inside a quoted attribute value,
    which pages hardly ever write, is read differently: as text up to that `<`."""
    head, *rest = markup.split("<")
    return head + "".join(("<" if ">" in part else "&lt;") + part for part in rest)


def html_to_text(fragment: str) -> str:
    """The text a reader sees: tags gone, entities decoded, paragraphs as line breaks (cleaned later by
    storage.statements.clean_text)."""
    if "<" not in fragment and "&" not in fragment:
        return fragment
    parser = _Text()
    parser.feed(_defanged(fragment))
    parser.close()
    return "".join(parser.parts)


class _FeedLinks(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and "alternate" in (a.get("rel") or "").lower().split() and a.get("href") \
                and (a.get("type") or "").lower().split(";")[0].strip() in FEED_TYPES:
            self.links.append(urljoin(self.base, a["href"]))


def feed_links(page: str, base: str) -> list[str]:
    """The feeds a web page advertises with `<link rel="alternate" type="application/rss+xml" href=…>`."""
    parser = _FeedLinks(base)
    parser.feed(_defanged(page))
    return parser.links


@dataclass
class ChannelPost:
    key: str                  # "name/123"
    text: str
    published: str | None     # ISO 8601, as the page gives it
    link: str


@dataclass
class ChannelPage:
    title: str = ""
    posts: list[ChannelPost] = field(default_factory=list)


class _Channel(HTMLParser):
    """t.me/s/<name>: each post is a `div.tgme_widget_message[data-post]` holding a
    `div.tgme_widget_message_text` and a `<time datetime>`."""

    def __init__(self, post_base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.post_base = post_base
        self.page = ChannelPage()
        self.depth = 0                   # open <div>s
        self.post_depth: int | None = None
        self.text_depth: int | None = None
        self.key = ""
        self.text: list[str] = []
        self.time: str | None = None
        self.in_title = False
        self.title_parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "meta" and a.get("property") == "og:title" and not self.page.title:
            self.page.title = a.get("content") or ""
        if tag == "div":
            self.depth += 1
            if "tgme_widget_message" in classes and a.get("data-post") and self.post_depth is None:
                self.post_depth, self.key, self.text, self.time = self.depth, a["data-post"], [], None
            elif "tgme_widget_message_text" in classes and self.post_depth is not None and self.text_depth is None:
                self.text_depth = self.depth
            elif "tgme_channel_info_header_title" in classes:
                self.in_title = True
        elif tag == "br" and self.text_depth is not None:
            self.text.append("\n")
        elif tag == "time" and self.post_depth is not None and a.get("datetime"):
            self.time = a["datetime"]

    def handle_endtag(self, tag):
        if tag != "div":
            return
        if self.text_depth == self.depth:
            self.text_depth = None
        if self.post_depth == self.depth:
            self.page.posts.append(ChannelPost(self.key, "".join(self.text), self.time,
                                               urljoin(self.post_base, self.key)))
            self.post_depth = None
        self.in_title = False
        self.depth -= 1

    def handle_data(self, data):
        if self.text_depth is not None:
            self.text.append(data)
        elif self.in_title:
            self.title_parts.append(data)

    def close(self):
        super().close()
        if not self.page.title:
            self.page.title = "".join(self.title_parts).strip()


def is_channel_page(page: str) -> bool:
    return "tgme_widget_message" in page or "tgme_channel_info" in page


def channel_page(page: str, post_base: str = "https://t.me/") -> ChannelPage:
    """A public channel's posts on its web preview page (oldest first, as the page shows them)."""
    parser = _Channel(post_base)
    parser.feed(_defanged(page))
    parser.close()
    return parser.page
