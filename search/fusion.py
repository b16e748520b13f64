"""One ranking from two: word scores and cosines fused into one score per statement."""

from __future__ import annotations

from itertools import zip_longest

WORDS_SHARE = 0.5  # of a fused score; the rest is meaning (bench/relevance prints the choice)
KEPT_FROM_EACH = 3  # the best of each ranking that a fused score may not push off the first page


def fuse(words: dict[int, float], meaning: dict[int, float], floor: float = 0.0, room: int = 0) -> list[int]:
    """Candidates by one score: WORDS_SHARE of their word score over the best one's, the rest their
    cosine's place between the floor (or the lowest candidate's, if higher) and the best. Unlike a fusion
    of ranks, a statement far ahead on one side stays ahead: the exact article a sentence names, or
    the one closest in meaning to a question no statement words alike. Best first, ties by id.
    The KEPT_FROM_EACH best by words and by meaning are kept among the first `room` (what the first page
    has left): a statement whose words match best but whose cosine is middling, or the reverse, is not
    crowded out by many that are fair on both sides (bench/relevance: teasers, headlines and
    paraphrased questions all gain)."""
    candidates = set(words) | set(meaning)
    best_words = max(words.values(), default=0.0) or 1.0
    cosines = [meaning.get(i, floor) for i in candidates]
    low = max(floor, min(cosines, default=floor))
    span = max(max(cosines, default=low) - low, 1e-9)

    def score(i: int) -> float:
        return (WORDS_SHARE * words.get(i, 0.0) / best_words
                + (1 - WORDS_SHARE) * max(0.0, meaning.get(i, low) - low) / span)
    fused = sorted(candidates, key=lambda i: (-score(i), i))
    by_words = sorted(words, key=lambda i: (-words[i], i))[:KEPT_FROM_EACH]
    by_meaning = sorted((i for i in meaning if meaning[i] >= floor), key=lambda i: (-meaning[i], i))[:KEPT_FROM_EACH]
    alternate = [i for pair in zip_longest(by_words, by_meaning) for i in pair if i is not None]
    kept = list(dict.fromkeys(alternate))[:room]  # taken in turns: a small room still holds both sides' best
    first = set(kept) | set([i for i in fused if i not in kept][:room - len(kept)])
    return [i for i in fused if i in first] + [i for i in fused if i not in first]
