"""A statement's headline: the one line a digest shows for it.

A channel post's first line is its headline when it reads as one (a single sentence of at least
MIN_WORDS words that does not introduce what follows with a colon); a feed entry has its title.
Otherwise the line is the first sentence of the first line, or a model's summary when a model
wrote one. Sentences are split per line, never across lines, so a headline never runs into its
body. At most MAX_CHARS characters, cut at a clause boundary and never inside a quotation.
"""

from __future__ import annotations

from summarizer.text import sentences

MAX_CHARS = 200
MIN_WORDS = 3
MIN_CUT = 40  # a cut before a long quotation leaves at least this much
_CLAUSE_ENDS = (", ", "; ", " — ", " – ", ": ", " - ")


def _open_quotes(text: str) -> list[int]:
    """For each position, how many quotations are open before it (« » „ “ ” and straight quotes)."""
    depth, straight, out = 0, False, []
    for ch in text:
        out.append(depth + straight)
        if ch in "«„":
            depth += 1
        elif ch == "»" and depth:
            depth -= 1
        elif ch == '"':
            straight = not straight
    return out


def cut(text: str, limit: int = MAX_CHARS) -> str:
    """`text` if it fits, else its longest start that ends at a clause boundary outside quotes (else at a
    word boundary outside quotes, else at a word), with "…". A quotation left open by the line is closed."""
    text = _balanced(text.strip())
    if len(text) <= limit:
        return text
    depth = _open_quotes(text[:limit])
    best = 0
    for mark in _CLAUSE_ENDS:
        at = text.rfind(mark, 0, limit - 1)
        while at > 0 and depth[at]:
            at = text.rfind(mark, 0, at)
        best = max(best, at)
    if best < limit // 3:  # no clause in reach: the last space outside a quote
        at = text.rfind(" ", 0, limit - 2)
        while at > 0 and depth[at]:
            at = text.rfind(" ", 0, at)
        best = at if at >= MIN_CUT else text.rfind(" ", 0, limit - 2)
    if best <= 0:
        best = limit - 2
    head = text[:best].rstrip(" ,;:—–-")
    # A quotation longer than the room is cut inside, and closed, so the reader sees where it ends.
    return head + "…" + ("»" if depth[min(best, len(depth) - 1)] else "")


def _balanced(line: str) -> str:
    """A line whose quotation opens in it and closes on a later line ("«Мы ответим», — сказал он" split over
    two lines): the opening mark left open is dropped at the start, or the quotation closed at the end."""
    for opening, closing in (("«", "»"), ('"', '"')):
        unclosed = line.count(opening) > line.count(closing) if opening != closing else line.count('"') % 2
        if unclosed:
            line = line[1:].lstrip() if line.startswith(opening) else line.rstrip(".") + closing
    return line


def _reads_as_headline(line: str) -> bool:
    return len(line.split()) >= MIN_WORDS and not line.endswith(":")


def headline(cleaned: str, title: str | None = None, model_summary: str | None = None) -> str:
    """The digest line of a statement from its cleaned text (summarizer.cleaning), its title if it has one,
    and the summary a model wrote of it, if any (module doc). Empty for an empty text."""
    if title and not title.startswith(("http://", "https://")) and _reads_as_headline(title):
        return cut(title)
    lines = cleaned.split("\n", 2)
    first = lines[0].strip()
    if len(lines) > 1 and (first.endswith(":") or len(first.split()) < MIN_WORDS):
        following = sentences(lines[1][:4 * MAX_CHARS])
        if first.endswith(":"):  # "Минобороны РФ:" introduces the news on the next line
            first = f"{first} {following[0] if following else lines[1]}"
        else:  # a caption's word or two ("Мир умер"): the news is told on the next line
            first = following[0] if following else lines[1]
    if not first:
        return cut(model_summary or "")
    parts = sentences(first[:4 * MAX_CHARS])  # the start of a long line is enough to find its first sentence
    if len(parts) <= 1 and _reads_as_headline(first):
        return cut(first)
    if model_summary:
        return cut(next(iter(sentences(model_summary)), model_summary))
    lead = next((s for s in parts if _reads_as_headline(s)), parts[0] if parts else first)
    return cut(lead)
