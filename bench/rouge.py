"""ROUGE-1/2/L F1 on lower-cased Snowball-stemmed word tokens.

Google's rouge_score keeps only [a-z0-9] and scores Cyrillic as zero, so we count ourselves.
"""

from __future__ import annotations

from collections import Counter

import Stemmer

from storage.morphology import WORD_RE, normalize_word

_stemmer = Stemmer.Stemmer("russian")


def tokens(text: str) -> list[str]:
    return _stemmer.stemWords([normalize_word(w) for w in WORD_RE.findall(text)])


def _f1(overlap: int, candidate: int, reference: int) -> float:
    if not overlap:
        return 0.0
    p, r = overlap / candidate, overlap / reference
    return 2 * p * r / (p + r)


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge(candidate: str, reference: str) -> tuple[float, float, float]:
    c, r = tokens(candidate), tokens(reference)
    scores = []
    for n in (1, 2):
        cn, rn = _ngrams(c, n), _ngrams(r, n)
        scores.append(_f1(sum((cn & rn).values()), sum(cn.values()), sum(rn.values())))
    scores.append(_f1(_lcs(c, r), len(c), len(r)))
    return scores[0], scores[1], scores[2]
