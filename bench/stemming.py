"""Why the word index holds Snowball stems: a word's stem against its dictionary form (pymorphy3), per word
of real channel text. Prints the median of three passes over the same words, and the ratio.

    python -m bench.stemming [--words 200000]
"""

from __future__ import annotations

import argparse
import time

from bench.common import median, read_jsonl_gz
from storage.morphology import WORD_RE, normalize_word


def words_of_corpus(limit: int) -> list[str]:
    words: list[str] = []
    for row in read_jsonl_gz("search_corpus_ru.jsonl.gz"):
        words += [normalize_word(w) for w in WORD_RE.findall(row.get("text", ""))]
        if len(words) >= limit:
            break
    return words[:limit]


def microseconds_a_word(words: list[str], per_word) -> float:
    passes = []
    for _ in range(3):
        started = time.perf_counter()
        for word in words:
            per_word(word)
        passes.append((time.perf_counter() - started) / len(words) * 1e6)
    return median(passes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=200_000)
    args = parser.parse_args()
    import pymorphy3
    import Stemmer
    words = words_of_corpus(args.words)
    stemmer = Stemmer.Stemmer("russian")
    stemmer.maxCacheSize = 0  # every word stemmed, as a stream of new text is
    morph = pymorphy3.MorphAnalyzer()
    snowball = microseconds_a_word(words, stemmer.stemWord)
    dictionary = microseconds_a_word(words, lambda w: morph.parse(w)[0].normal_form)
    print(f"{len(words):,} words of channel text, median of 3 passes")
    print(f"Snowball stem (the index's): {snowball:.2f} µs a word")
    print(f"pymorphy3 dictionary form (baseline): {dictionary:.2f} µs a word ({dictionary / snowball:.0f}× the stem)")


if __name__ == "__main__":
    main()
