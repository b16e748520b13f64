"""Statements that are not news: ads, giveaways, podcast and channel promos, memes and fragments.

They stay in the store and in search; a digest leaves them off its first page and says how many.
Rules first (a marked ad, a giveaway, a fragment of under MIN_NEWS_WORDS words); then, where the
statement has a sentence vector, a small logistic classifier trained on labelled channel posts
(summarizer/not_news_model.json, made by bench/not_news.py). A real story hidden is worse than an
ad shown, so the classifier's cut is set for precision.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_NEWS_WORDS = 4
MODEL_PATH = Path(__file__).with_name("not_news_model.json")

# Marked advertising and giveaways (Russian law makes ads carry "erid" or "Реклама"), anywhere in the post.
_AD_RE = re.compile(
    r"\berid\b|#реклама|#промо|#ad\b|#партн[её]р|на правах рекламы|^реклама\b|\bреклама\.\s|"
    r"партн[её]рский (?:пост|материал)|\bпромокод|\bрозыгрыш|\bразыгрыва(?:ем|ет|ют)\b|«участвовать»|"
    r"\bпроголосуйте за канал",
    re.IGNORECASE | re.MULTILINE)
# Each of _AD_RE's branches holds one of these (case folded): the pattern, costly on a long text, runs after one.
_AD_HINTS = ("erid", "#", "реклам", "партн", "промокод", "розыгрыш", "разыгрыва", "участвовать", "проголосуйте")
# Promos of a podcast, a stream or another channel, told by the post's first line.
_PROMO_RE = re.compile(r"\bподкаст(?:а|е|ом|ы)?\b|\bвыпуск[аи]? (?:подкаста|шоу)|\bпрямой эфир\b|\bканал\b.*\bподпиш",
                       re.IGNORECASE)
_WORD_RE = re.compile(r"\w+")
_FIRST_LINE_CHARS = 300


@dataclass(frozen=True, slots=True)
class Verdict:
    not_news: bool
    why: str = ""  # "ad", "promo", "fragment", "classifier"


class NotNewsClassifier:
    """Logistic regression on a statement's unit sentence vector: weights, bias and the cut in use."""

    def __init__(self, weights: np.ndarray, bias: float, cut: float, model: str) -> None:
        self.weights, self.bias, self.cut, self.model = weights.astype(np.float32), bias, cut, model

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> NotNewsClassifier | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(np.array(data["weights"], dtype=np.float32), float(data["bias"]), float(data["cut"]),
                   data["model"])

    def probability(self, vectors: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(np.asarray(vectors, dtype=np.float32) @ self.weights + self.bias)))


def by_rules(raw: str, cleaned: str) -> Verdict:
    """What the text alone tells: a marked ad or giveaway (in the raw post, tags included), a promo told by
    its first line, or a fragment (under MIN_NEWS_WORDS words once cleaned)."""
    folded = raw.casefold()
    if any(hint in folded for hint in _AD_HINTS) and _AD_RE.search(raw):  # the hints: plain substring searches
        return Verdict(True, "ad")
    first = cleaned[:_FIRST_LINE_CHARS].split("\n", 1)[0]  # bounded: the pattern's `.*` rescans the line
    if _PROMO_RE.search(first):
        return Verdict(True, "promo")
    if len(_WORD_RE.findall(cleaned[:_FIRST_LINE_CHARS])) < MIN_NEWS_WORDS:
        return Verdict(True, "fragment")
    return Verdict(False)
