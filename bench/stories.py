"""Calibration of the digest's same-story merging (summarizer.digest.SAME_STORY_JACCARD).

    python -m bench.stories

For each threshold: recall on human-labelled same-story pairs and the share of hard
different-story pairs merged by mistake (tgcontest gold pairs), recall on near-duplicate
channel posts (reposts, rewrites), and the merge rate of random pairs from different
story threads (the baseline: what merging costs on unrelated news).
"""

from __future__ import annotations

import random

from bench.common import read_jsonl_gz
from summarizer.digest import SAME_STORY_JACCARD, fingerprint


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def main() -> None:
    gold = [(r["label"] == "OK",
             jaccard(fingerprint(r["title_1"], r["text_1"]), fingerprint(r["title_2"], r["text_2"])))
            for r in read_jsonl_gz("tgcontest_gold_pairs_ru.jsonl.gz")]
    near = [jaccard(fingerprint(None, r["text_1"]), fingerprint(None, r["text_2"]))
            for r in read_jsonl_gz("telegram_neardup_pairs_ru.jsonl.gz")]
    threads = list(read_jsonl_gz("tgcontest_threads_ru.jsonl.gz"))
    rng = random.Random(1)
    unrelated = []
    while len(unrelated) < 3000:
        a, b = rng.sample(threads, 2)
        if a["cluster_id"] != b["cluster_id"]:
            unrelated.append(jaccard(fingerprint(a["title"], a["text"]), fingerprint(b["title"], b["text"])))
    same = sum(1 for ok, _ in gold if ok)
    print(f"pairs: {len(gold)} gold ({same} same story), {len(near)} near-duplicates, {len(unrelated)} unrelated")
    print(f"{'threshold':>10}{'gold recall':>13}{'gold wrong merges':>19}{'near-dup recall':>17}"
          f"{'unrelated merged':>18}")
    for t in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        recall = sum(1 for ok, j in gold if ok and j >= t) / same
        wrong = sum(1 for ok, j in gold if not ok and j >= t) / (len(gold) - same)
        mark = "  <- in use" if t == SAME_STORY_JACCARD else ""
        print(f"{t:>10.2f}{recall:>13.1%}{wrong:>19.1%}{sum(j >= t for j in near) / len(near):>17.1%}"
              f"{sum(j >= t for j in unrelated) / len(unrelated):>18.2%}{mark}")


if __name__ == "__main__":
    main()
