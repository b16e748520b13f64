"""Summary quality (ROUGE vs Lead-1) and seq2seq speed (transformers fp32 vs CTranslate2 int8).

    python -m bench.summarize                 # quality and speed
    python -m bench.summarize --quality-only
    python -m bench.summarize --speed-only [--batches 2]

Quality: on eval_summarization_1k_ru (reference = headline) and eval_lead_summary_ru
(reference = teaser), ROUGE-1/2/L F1 on stemmed lower-cased tokens for every method
available here, always beside Lead-1 from the same run. The seq2seq row appears when
SUMMARIZER_MODEL can be loaded from a local directory or the hub cache.

Speed: a random-weight model of the default checkpoint's shape (T5-base, 32k vocabulary),
400 input tokens, exactly 64 output tokens, greedy (--beams 4: the product's beam search),
batch 8; each backend in its own
process so that peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import median, read_jsonl_gz
from bench.rouge import rouge
from storage.statements import clean_text
from summarizer.backends.extractive import ExtractiveBackend
from summarizer.cleaning import clean
from summarizer.headline import headline
from summarizer.text import model_input, sentences

HEADLINED = "search_corpus_ru.jsonl.gz: channel posts with a headline line"
SETS = [("eval_summarization_1k_ru.jsonl.gz", "title", "headline"),
        ("eval_lead_summary_ru.jsonl.gz", "summary", "teaser"),
        (HEADLINED, "title", "the post's own headline line, kept in the text")]
INPUT_TOKENS, OUTPUT_TOKENS, BATCH = 400, 64, 8


def headlined_posts(limit: int = 600) -> list[dict]:
    """Channel posts of the search corpus whose first line reads as a headline (4–20 words, no full stop, a body
    of 20 words or more below it): the reference is that line, and the text keeps it, as a subscriber's digest
    reads it. A method that glues the headline to its body scores lower here; the eval sets above cannot
    show it (their channel posts have the headline taken out)."""
    out = []
    for row in read_jsonl_gz("search_corpus_ru.jsonl.gz"):
        if row.get("channel_kind") != "news_channel":
            continue
        lines = [line.strip() for line in clean_text(row["text"]).split("\n") if line.strip()]
        first = clean(lines[0]) if lines else ""
        if len(lines) > 1 and 4 <= len(first.split()) <= 20 and first[-1] not in ".!?…" \
                and len(" ".join(lines[1:]).split()) >= 20:
            out.append({"text": clean_text(row["text"]), "title": first})
    return out[::max(1, len(out) // limit)][:limit]


def lead1(text: str) -> str:
    sents = sentences(model_input(text))
    return sents[0] if sents else text


def quality() -> None:
    extractive = ExtractiveBackend()
    methods = {"Lead-1": lambda texts: [lead1(t) for t in texts],
               "extractive (TextRank)": extractive.summarize,
               "extractive, lines joined (before)": lambda texts: [extractive.summarize_one(" ".join(t.split("\n")))
                                                                   for t in texts],
               "digest line (cleaned, headline)": lambda texts: [headline(clean(t)) for t in texts]}
    model = os.environ.get("SUMMARIZER_MODEL", "IlyaGusev/rut5_base_sum_gazeta")
    try:
        from summarizer.backends.seq2seq import TransformersBackend
        seq2seq = TransformersBackend(model)
        methods[f"seq2seq {seq2seq.name}"] = seq2seq.summarize
    except Exception as exc:
        print(f"seq2seq: {model} not available here ({type(exc).__name__}); scored: Lead-1 and extractive")
    for name, ref_field, ref_kind in SETS:
        rows = headlined_posts() if name == HEADLINED else list(read_jsonl_gz(name))
        texts, refs = [r["text"] for r in rows], [r[ref_field] for r in rows]
        print(f"\n{name}: {len(rows)} items, reference = {ref_kind}")
        print(f"  {'method':34}{'R-1':>7}{'R-2':>7}{'R-L':>7}{'words':>7}")
        for method, run in methods.items():
            outs = []
            for i in range(0, len(texts), BATCH):
                outs.extend(run(texts[i:i + BATCH]))
            scores = [rouge(o, r) for o, r in zip(outs, refs, strict=True)]
            avg = [100 * sum(s[k] for s in scores) / len(scores) for k in range(3)]
            words = median([len(o.split()) for o in outs])
            print(f"  {method:34}{avg[0]:7.1f}{avg[1]:7.1f}{avg[2]:7.1f}{words:7.0f}")


def build_random_base_model(directory: str) -> str:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=32128, d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_decoder_layers=12,
                      num_heads=12, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    T5ForConditionalGeneration(config).save_pretrained(directory)
    # A word-level tokenizer whose tokens are the ids themselves: the converter needs one,
    # and both backends then read identical inputs.
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {str(i): i for i in range(config.vocab_size)}
    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="2")),
                                   pad_token="0", eos_token="1", unk_token="2")
    fast.save_pretrained(directory)
    return directory


def speed_worker(backend: str, path: str, batches: int, beams: int) -> dict:
    """Runs in a child process: items/s of one backend, and this process's peak memory."""
    import random

    rng = random.Random(0)
    inputs = [[rng.randrange(5, 32000) for _ in range(INPUT_TOKENS - 1)] + [1] for _ in range(BATCH)]
    times = []
    if backend == "transformers":
        import torch
        from transformers import AutoModelForSeq2SeqLM

        torch.set_flush_denormal(True)
        model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()
        ids = torch.tensor(inputs)
        for _ in range(batches + 1):
            t = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), num_beams=beams,
                                     do_sample=False, min_new_tokens=OUTPUT_TOKENS, max_new_tokens=OUTPUT_TOKENS)
            times.append(time.perf_counter() - t)
        out_len = out.shape[1] - 1
    else:
        import ctranslate2

        translator = ctranslate2.Translator(path, device="cpu", compute_type="int8", intra_threads=os.cpu_count())
        tokens = [[str(i) for i in seq] for seq in inputs]  # the vocabulary's tokens are the ids
        for _ in range(batches + 1):
            t = time.perf_counter()
            res = translator.translate_batch(tokens, beam_size=beams, min_decoding_length=OUTPUT_TOKENS,
                                             max_decoding_length=OUTPUT_TOKENS, max_batch_size=0,
                                             return_scores=False)
            times.append(time.perf_counter() - t)
        out_len = len(res[0].hypotheses[0])
    per_batch = median(times[1:])  # the first batch warms up
    return {"items_per_s": BATCH / per_batch, "s_per_batch": per_batch, "output_tokens": out_len,
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the parent process.
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_speed(batches: int, beams: tuple[int, ...], backends=("transformers", "ctranslate2")
                  ) -> tuple[dict[tuple[str, int], dict], dict[str, float]]:
    """Each backend's speed at each beam width, each in its own process, on one random T5-base model;
    and each backend's size on disk (MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = build_random_base_model(os.path.join(tmp, "hf"))
        ct2_dir = os.path.join(tmp, "ct2")
        import ctranslate2

        ctranslate2.converters.TransformersConverter(hf_dir).convert(ct2_dir, quantization="int8", force=True)
        paths = {"transformers": hf_dir, "ctranslate2": ct2_dir}
        sizes = {b: sum(os.path.getsize(os.path.join(paths[b], f)) for f in os.listdir(paths[b])) / 2**20
                 for b in backends}
        results = {}
        for backend in backends:
            for width in beams:
                proc = subprocess.run([sys.executable, "-m", "bench.summarize", "--speed-worker", backend,
                                       paths[backend], str(batches), str(width)],
                                      capture_output=True, text=True, check=True)
                results[backend, width] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results, sizes


def speed(batches: int, beams: int) -> None:
    measured, sizes = measure_speed(batches, (beams,))
    results = {backend: r for (backend, _), r in measured.items()}
    decoding = "greedy" if beams == 1 else f"beam {beams}"
    print(f"\nspeed: T5-base shape (random weights), {INPUT_TOKENS} tokens in, {OUTPUT_TOKENS} out, {decoding}, "
          f"batch {BATCH}, {os.cpu_count()} cores, median of {batches} batches")
    print(f"  {'backend':26}{'items/s':>9}{'s/batch':>9}{'out tok':>9}{'peak MB':>9}{'disk MB':>9}")
    for backend, r in results.items():
        label = "transformers fp32" if backend == "transformers" else "CTranslate2 int8"
        print(f"  {label:26}{r['items_per_s']:9.2f}{r['s_per_batch']:9.1f}{r['output_tokens']:9d}"
              f"{r['peak_rss_mb']:9.0f}{sizes[backend]:9.0f}")
    ratio = results["ctranslate2"]["items_per_s"] / results["transformers"]["items_per_s"]
    print(f"  CTranslate2 int8 / transformers fp32: {ratio:.2f}x items/s")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--speed-worker":
        print(json.dumps(speed_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--quality-only", action="store_true")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--beams", type=int, default=1, help="1: greedy; 4: the product's setting")
    args = parser.parse_args()
    if not args.speed_only:
        quality()
    if not args.quality_only:
        speed(args.batches, args.beams)


if __name__ == "__main__":
    main()
