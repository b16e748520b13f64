"""Calibration of the digest's same-story merging (summarizer.stories.SAME_STORY_JACCARD), and its cost.

    python -m bench.stories [--big-day 20000]

For each threshold: recall on human-labelled same-story pairs and the share of hard
different-story pairs merged by mistake (tgcontest gold pairs), recall on near-duplicate
channel posts (reposts, rewrites), and the merge rate of random pairs from different
story threads (the baseline: what merging costs on unrelated news).

Then a big day: that many real statements grouped by the candidate index in use and by the
exhaustive comparison of every item with every story (the baseline), in seconds, with how
many of the exhaustive merges the index makes to the same story.
"""

from __future__ import annotations

import argparse
import random
import time

from bench.common import read_jsonl_gz
from summarizer.stories import SAME_STORY_JACCARD, fingerprint, group_fingerprints, jaccard


def exhaustive(prints: list[frozenset[str]]) -> list[int]:
    """The baseline: every item compared with every story's lead, the first match joined."""
    leads: list[frozenset[str]] = []
    story_of = []
    for own in prints:
        joined = next((n for n, lead in enumerate(leads) if jaccard(own, lead) >= SAME_STORY_JACCARD), None)
        if joined is None:
            joined = len(leads)
            leads.append(own)
        story_of.append(joined)
    return story_of


def lead_of_each(story_of: list[int]) -> list[int]:
    first: dict[int, int] = {}
    return [first.setdefault(story, i) for i, story in enumerate(story_of)]


def big_day(size: int) -> None:
    rows = list(read_jsonl_gz("search_corpus_ru.jsonl.gz"))
    random.Random(1).shuffle(rows)
    started = time.perf_counter()
    prints = [fingerprint(r.get("title"), r["text"]) for r in rows[:size]]
    fingerprint_s = time.perf_counter() - started
    started = time.perf_counter()
    fast = lead_of_each(group_fingerprints(prints))
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    slow = lead_of_each(exhaustive(prints))
    slow_s = time.perf_counter() - started
    merged = [i for i, lead in enumerate(slow) if lead != i]
    same = sum(fast[i] == slow[i] for i in merged)
    print(f"\nbig day: {len(prints)} real statements, fingerprints {fingerprint_s:.1f} s")
    print(f"  candidate index: {fast_s:.1f} s, {len(set(fast))} stories")
    print(f"  exhaustive:      {slow_s:.1f} s, {len(set(slow))} stories  ({slow_s / fast_s:.0f}x the time)")
    print(f"  merges made to the same story as exhaustive: {same} of {len(merged)} ({same / len(merged):.1%}); "
          f"merges only it made: {sum(1 for i, lead in enumerate(fast) if lead != i and slow[i] == i)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-day", type=int, default=20_000, help="statements in the grouping-cost run (0: skip)")
    args = parser.parse_args()
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
    if args.big_day:
        big_day(args.big_day)


if __name__ == "__main__":
    main()
