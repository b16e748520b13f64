"""Statement text for models and people: sentences, model input, cleaned summaries."""

from __future__ import annotations

import re

from razdel import sentenize

_URL_RE = re.compile(r"https?://\S+|www\.\S+|t\.me/\S+")
_SPACE_RE = re.compile(r"\s+")
_END_PUNCT = ".!?…»\")"
MAX_SUMMARY_CHARS = 400


def sentences(text: str) -> list[str]:
    """Russian sentences (razdel), one line each, empty ones dropped."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        out.extend(s.text.strip() for s in sentenize(paragraph) if any(ch.isalnum() for ch in s.text))
    return out


def model_input(text: str) -> str:
    """What a model reads: no links, one line, each line of the text ending as a sentence does (a post's
    headline line has no full stop; joined bare, it would run into its body). The `date` line is gone
    already at ingest; channel footers by summarizer.cleaning."""
    lines = (_SPACE_RE.sub(" ", _URL_RE.sub("", line)).strip() for line in text.split("\n"))
    return " ".join(line if line[-1] in _END_PUNCT + ":;," else line + "." for line in lines if line)


def _drop_repeats(sents: list[str]) -> list[str]:
    """Seq2seq models loop: drop a sentence whose words a kept one already says."""
    kept: list[str] = []
    seen: list[set[str]] = []
    for sent in sents:
        words = set(re.findall(r"\w+", sent.lower()))
        if not words or any(len(words & prev) / len(words) > 0.8 for prev in seen):
            continue
        kept.append(sent)
        seen.append(words)
    return kept


def _collapse_loops(text: str) -> str:
    """`в Москве в Москве в Москве` → `в Москве`: a phrase of 1–6 words repeated back to back."""
    return re.sub(r"\b((?:\w+\W+){0,5}?\w+)(?:\W+\1\b)+", r"\1", text, flags=re.IGNORECASE)


def clean_summary(text: str, max_chars: int = MAX_SUMMARY_CHARS) -> str:
    """Whole sentences, no repeats, at most `max_chars`, ending with punctuation."""
    text = _collapse_loops(_SPACE_RE.sub(" ", text).strip())
    sents = _drop_repeats(sentences(text))
    if not sents:
        return ""
    out = sents[0]
    for sent in sents[1:]:
        if len(out) + 1 + len(sent) > max_chars:
            break
        out += " " + sent
    if len(out) > max_chars:  # one over-long sentence: cut at a word boundary
        out = out[:max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:—- ") + "…"
    if out[-1] not in _END_PUNCT:
        out = out.rstrip(",;:—- ") + "."
    return out[0].upper() + out[1:]
