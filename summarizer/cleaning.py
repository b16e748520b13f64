"""Channel text made clean for models and readers; the stored text stays as posted.

Russian news channels end most posts with a fixed footer ("❤ Подписаться | Прислать новость"),
decorate lines with emoji and sign with `@channel` or a bare link. Left in, a footer runs into
the digest line and pulls a channel's unrelated short posts together by meaning. `clean()` drops:

- each source's own boilerplate, learned from its recent posts (`learn_footers`): a line that
  closes at least FOOTER_MIN_POSTS of them and FOOTER_MIN_SHARE of those read is its footer, so
  a new channel is cleaned after its first few posts, with no list to keep;
- a small general list of calls to action (subscribe, send news, read without VPN) for one-off
  footers, on short lines only;
- decorative emoji, `#tags`, links, lines that are only `@handles`, and labels left dangling
  at the end ("Слушайте также:" once its links are gone).

Lines are kept: a post's first line is usually its headline. Every pattern here is a character
class or a fixed alternation, linear in the text (untrusted input; this runs for every statement).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

FOOTER_MIN_POSTS = 3     # a footer closes at least this many of a source's posts…
FOOTER_MIN_SHARE = 0.2   # …and this share of the posts read (a recurring closing sentence of news is rarer)
FOOTER_TAIL_LINES = 3    # a footer is among a post's last lines
RECENT_POSTS = 50        # a source's posts its footers are learned from
_CALL_MAX_WORDS = 10     # a general call to action is a short line; a long one is news about subscriptions

# Pictographs, dingbats, symbols, arrows in boxes, variation selectors, joiners, keycaps, tags, flags.
# Kept: letters, digits, punctuation, currency, °, №, ©, ™ and plain arrows (→), which news use.
_EMOJI_RE = re.compile(
    "[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\u25A0-\u25FF\u2190-\u2199\u21A9-\u21AA"
    "\u2934\u2935\u3030\u303D\u3297\u3299\uFE0E\uFE0F\u200D\u20E3\U000E0000-\U000E007F\U0001F1E6-\U0001F1FF]+")
_SCHEME_URL = r"(?:https?://|www\.|t\.me/)\S+"
# bit.ly/x: starts only where a run of [\w-] starts (with \b, "a-a-a-…" would be rescanned from every "a")
_DOMAIN_URL_RE = re.compile(r"(?<![\w-])[\w-]+\.(?:ru|com|ly|cc|me|io|org|net|su|рф)/\S*", re.IGNORECASE)
_URL_RE = re.compile(f"{_SCHEME_URL}|{_DOMAIN_URL_RE.pattern}", re.IGNORECASE)
_TAG_RE = re.compile(r"(?<!\w)#\w+")
_HANDLE_RE = re.compile(r"(?<!\w)@\w{3,}")
_DROP_RE = re.compile(f"{_EMOJI_RE.pattern}|(?i:{_SCHEME_URL})|{_TAG_RE.pattern}")  # one pass a line
_KEY_RE = re.compile(r"[^\w]+")
_SHORT_LINE = 200  # footers and calls to action are short lines; a longer one is never read as either
_SPACES_RE = re.compile(r"[ \t]{2,}")
_LEAD_JUNK = " \t|—–-•·:,;/\\"  # left of a line once its emoji are gone
_TRAIL_JUNK = " \t|—–-•·,;/\\"  # right of it: a colon stays (a label, "Минобороны РФ:")
# Calls to action in a channel's voice: imperatives and fixed phrases, never "подписал указ".
_CALL_RE = re.compile(
    r"\b(?:подписаться|подпишись|подпишитесь|подписывайся|подписывайтесь|прислать новость|предложить новость|"
    r"прислали через бота|прислано через бота|через бота-предложку|наш канал|нашем канале|без vpn|"
    r"поддержать канал|поддержите канал|отдай свой буст|отдайте буст|голосуйте за канал|проголосуйте за канал|"
    r"читайте нас|читать нас|смотрите нас|слушайте нас|наш сайт|ставьте лайк|подробнее по ссылке|"
    r"подробнее в источнике|переходите по ссылке)\b")  # matched on line_key(): case folded already


def line_key(line: str) -> str:
    """A line as a footer is recognised: its words, case folded, no emoji, links, spacing or punctuation."""
    return _KEY_RE.sub(" ", _URL_RE.sub(" ", line).casefold()).strip()


def _tail_keys(text: str) -> set[str]:
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < 2:
        return set()
    return {key for line in lines[-FOOTER_TAIL_LINES:] if len(line) <= _SHORT_LINE and (key := line_key(line))}


def learn_footers(texts: Iterable[str]) -> frozenset[str]:
    """The keys of lines that close enough of a source's posts to be its footer (module doc). A post of
    one line only is never read as a footer: that line is its news."""
    counts: Counter[str] = Counter()
    posts = 0
    for text in texts:
        posts += 1
        counts.update(_tail_keys(text))
    need = max(FOOTER_MIN_POSTS, FOOTER_MIN_SHARE * posts)
    return frozenset(key for key, n in counts.items() if n >= need)


def is_call_to_action(line: str) -> bool:
    """A short line asking to subscribe, send news, boost or read elsewhere."""
    return len(line) <= _SHORT_LINE and _is_call(line_key(line))


def _is_call(key: str) -> bool:
    return bool(key) and key.count(" ") < _CALL_MAX_WORDS and bool(_CALL_RE.search(key))


def _clean_line(line: str) -> str:
    line = _DROP_RE.sub(" ", line)
    if "/" in line:  # a link without its scheme (bit.ly/x) is rare: its pattern, slow on every word, only then
        line = _DOMAIN_URL_RE.sub(" ", line)
    return _SPACES_RE.sub(" ", line).lstrip(_LEAD_JUNK).rstrip(_TRAIL_JUNK)


def _only_handles(line: str) -> bool:
    return "@" in line and not _HANDLE_RE.sub(" ", line).strip(_LEAD_JUNK + ".")


def _without_signature(line: str) -> str:
    """The line without the `@channel` handles it ends with (a signature), unless that is all it holds."""
    words = line.split(" ")
    end = len(words)
    while end > 1 and _HANDLE_RE.fullmatch(words[end - 1].strip(",.;")):
        end -= 1
    return " ".join(words[:end]).rstrip(_TRAIL_JUNK)


def clean(text: str, footers: frozenset[str] = frozenset(), chars: int | None = None) -> str:
    """The text as models read it and readers see it (module doc); lines kept, blank ones dropped. `chars`:
    only the whole lines within the text's first `chars` characters, or the start of a longer first line (a
    digest reads no further)."""
    out: list[str] = []
    lines = (text if chars is None or len(text) <= chars else text[:chars].rsplit("\n", 1)[0] or text[:chars]
             ).split("\n")
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        if len(raw) <= _SHORT_LINE:
            key = line_key(raw)
            if out and (key in footers or _is_call(key)):
                continue  # the first line is the post's news: never a footer, even if it repeats
            if not out and number < len(lines) - 1 and key in footers and _is_call(key):
                continue
        line = _clean_line(raw)
        if not line or _only_handles(line) or not any(ch.isalnum() for ch in line):
            continue
        out.append(line)
    if out:
        out[-1] = _without_signature(out[-1])
    while len(out) > 1 and out[-1].endswith(":"):  # a label whose links are gone
        out.pop()
    return "\n".join(out)
