"""Extractive fallback: TextRank over stemmed sentences with a lead bias, no model needed."""

from __future__ import annotations

import math

from storage.morphology import index_stems
from summarizer.text import MAX_SUMMARY_CHARS, clean_summary, model_input, sentences

DAMPING = 0.7  # lower than TextRank's 0.85: more weight on the lead prior (docs/benchmarks.md)
ITERATIONS = 30
LEAD_BIAS = 3.0  # teleport weight 1/(1+i)^3 favours early sentences: news puts the point first


def _similarity(a: set[str], b: set[str]) -> float:
    # TextRank's overlap normalised by log lengths (Mihalcea & Tarau, 2004).
    if len(a) < 2 or len(b) < 2:
        return 0.0
    return len(a & b) / (math.log(len(a)) + math.log(len(b)))


def rank_sentences(sents: list[str]) -> list[float]:
    """Personalised PageRank over the sentence-overlap graph; teleport favours early sentences."""
    bags = [set(index_stems(s)) for s in sents]
    n = len(sents)
    weights = [[_similarity(bags[i], bags[j]) if i != j else 0.0 for j in range(n)] for i in range(n)]
    out_sums = [sum(row) or 1.0 for row in weights]
    prior = [1.0 / (1 + i) ** LEAD_BIAS for i in range(n)]
    total = sum(prior)
    prior = [p / total for p in prior]
    scores = prior[:]
    for _ in range(ITERATIONS):
        scores = [(1 - DAMPING) * prior[i]
                  + DAMPING * sum(weights[j][i] / out_sums[j] * scores[j] for j in range(n))
                  for i in range(n)]
    return scores


class ExtractiveBackend:
    name = "extractive"

    def __init__(self, max_sentences: int = 1, max_chars: int = MAX_SUMMARY_CHARS) -> None:
        self.max_sentences = max_sentences
        self.max_chars = max_chars

    def summarize_one(self, text: str) -> str:
        # Per line: a post's headline line is a sentence of its own, never glued to its body.
        sents = sentences("\n".join(model_input(line) for line in text.split("\n")))[:60]  # cap the quadratic graph
        if len(sents) <= 1:
            return clean_summary(sents[0] if sents else text, self.max_chars)
        scores = rank_sentences(sents)
        best = sorted(range(len(sents)), key=lambda i: -scores[i])
        chosen: list[int] = []
        length = 0
        for i in best:
            if len(chosen) == self.max_sentences or (chosen and length + len(sents[i]) > self.max_chars):
                continue
            chosen.append(i)
            length += len(sents[i]) + 1
        return clean_summary(" ".join(sents[i] for i in sorted(chosen)), self.max_chars)

    def summarize(self, texts: list[str]) -> list[str]:
        return [self.summarize_one(t) for t in texts]
