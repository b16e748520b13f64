"""What a search answers: hits with snippets, the query's words marked, a page at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from search.query import ParsedQuery
from storage.morphology import word_spans

SNIPPET_WORDS = 28
SNIPPET_WORD_CHARS = 40  # a longer "word" (a run of 6,000 letters) is shown cut
SNIPPET_GAP_CHARS = 20  # so is a long run of punctuation between words


@dataclass(frozen=True, slots=True)
class Hit:
    item_id: int
    statement_date: date
    title: str | None
    snippet: str
    marks: tuple[tuple[int, int], ...]  # matched word spans within snippet
    by_meaning: bool = False  # found by the sentence vector alone, none of its words matched the query

    def render(self, mark: Callable[[str], str], plain: Callable[[str], str] = lambda s: s) -> str:
        """The snippet with matched words passed through `mark`, the rest through `plain`."""
        out, pos = [], 0
        for start, end in self.marks:
            out.append(plain(self.snippet[pos:start]))
            out.append(mark(self.snippet[start:end]))
            pos = end
        out.append(plain(self.snippet[pos:]))
        return "".join(out)

    def cut(self, chars: int) -> Hit:
        """The same hit with its snippet cut to `chars` characters (and an ellipsis)."""
        if chars >= len(self.snippet):
            return self
        marks = tuple((start, min(end, chars)) for start, end in self.marks if start < chars)
        return Hit(self.item_id, self.statement_date, self.title, self.snippet[:chars] + "…", marks, self.by_meaning)


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[Hit] = field(default_factory=list)
    offset: int = 0
    has_more: bool = False


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def make_snippet(text: str, query: ParsedQuery, words: int = SNIPPET_WORDS) -> tuple[str, tuple]:
    """The window of `words` words with most query matches, and where the matches are.

    Built word by word from the original text, so each over-long word or gap is cut and the
    snippet stays short whatever the text."""
    spans = list(word_spans(text))
    if not spans:
        return _capped(text, 200), ()
    matches = query.matcher()
    hits = [matches(stem) for _, _, stem in spans]
    seen = [0]
    for hit in hits:
        seen.append(seen[-1] + hit)
    n = len(spans)
    best = max(range(max(1, n - words + 1)), key=lambda s: (seen[min(s + words, n)] - seen[s], -s))
    # Start a little before the first match so that it has context.
    first_hit = next((i for i in range(best, n) if hits[i]), best)
    best = max(0, min(first_hit - 3, n - words))
    last = min(best + words, n) - 1
    out: list[str] = ["…"] if best else [_capped(text[:spans[0][0]], SNIPPET_GAP_CHARS)]
    length = len(out[0])
    marks = []
    previous_end = spans[best][0]
    for (start, end, _), hit in zip(spans[best:last + 1], hits[best:last + 1], strict=True):
        gap = _capped(text[previous_end:start].replace("\n", " "), SNIPPET_GAP_CHARS)
        word = _capped(text[start:end], SNIPPET_WORD_CHARS)
        if hit:
            marks.append((length + len(gap), length + len(gap) + len(word)))
        out += [gap, word]
        length += len(gap) + len(word)
        previous_end = end
    tail = text[previous_end:].replace("\n", " ")
    out.append(_capped(tail, SNIPPET_GAP_CHARS) if last == n - 1 else "…")
    return "".join(out), tuple(marks)
