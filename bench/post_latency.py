"""How fast an admin's statement is answered while the model is busy summarizing.

    python -m bench.post_latency [--posts 20]

Starts the real bot against the test Bot API server twice: once with the extractive
summarizer (the baseline: the worker is nearly idle) and once with a random-weight seq2seq
model of ruT5-base's shape on `transformers` (beam 4, the product's settings), with a
backlog of statements keeping it busy. Each admin post is timed from the moment the
server hands it out to the bot's "saved" reply.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import median, percentile, read_jsonl_gz
from bench.summarize import build_random_base_model
from tests.e2e import BotApiServer, BotProcess

ADMIN = 100


def build_model_with_word_tokenizer(directory: Path, texts: list[str]) -> str:
    """ruT5-base-shaped random weights and a word-level tokenizer over the real corpus' words."""
    import re

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    path = build_random_base_model(str(directory))
    counts = Counter(w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower()))
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word, _ in counts.most_common(32000):
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>")
    fast.save_pretrained(path)
    # Random weights may emit </s> at once, and an empty summary falls back to the extractive
    # one: point end-of-sequence at a token never emitted so every item costs full-length
    # generation, as a real model's summaries do.
    from transformers import GenerationConfig

    generation = GenerationConfig.from_pretrained(path)
    generation.eos_token_id = len(vocab) + 1000
    generation.save_pretrained(path)
    return path


def measure(workdir: Path, posts: int, texts: list[str], backlog: int, **env: str) -> list[float]:
    api = BotApiServer()
    bot = BotProcess(api, workdir, ADMIN_IDS=str(ADMIN), LOG_LEVEL="WARNING", **env)
    try:
        for text in texts[:backlog]:  # keep the worker busy
            api.send_text(ADMIN, text)
        api.wait_for(lambda r: r["text"].startswith(f"✅ Сохранено: #{backlog}"), timeout=120)
        time.sleep(3)  # the model is loaded and generating by now
        latencies = []
        for i, text in enumerate(texts[backlog:backlog + posts], start=backlog + 1):
            start = len(api.sent())
            sent_at = time.time()
            api.send_text(ADMIN, text)
            reply = api.wait_for(lambda r, i=i: r["text"].startswith(f"✅ Сохранено: #{i}"), after=start, timeout=60)
            latencies.append((reply["t"] - sent_at) * 1000)
        summarized = sum(1 for r in api.sent() if r["text"].startswith("📝"))
        print(f"  ({summarized} of {backlog + posts} summaries made meanwhile)")
        return latencies
    finally:
        bot.stop()
        api.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=20)
    args = parser.parse_args()
    texts = [r["text"] for r in read_jsonl_gz("eval_summarization_1k_ru.jsonl.gz")]
    backlog = 16
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_model_with_word_tokenizer(tmp / "model", texts)
        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        print("extractive summarizer (baseline):")
        base = measure(tmp / "a", args.posts, texts, backlog, SUMMARIZER_BACKEND="extractive")
        print("ruT5-base-shaped model on transformers, beam 4, busy with a backlog:")
        busy = measure(tmp / "b", args.posts, texts, backlog, SUMMARIZER_BACKEND="transformers",
                       SUMMARIZER_MODEL=model)
    print(f"reply to an admin's post, {args.posts} posts: {'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}")
    for name, values in (("baseline (extractive)", base), ("model busy", busy)):
        print(f"  {name:40}{median(values):8.0f}{percentile(values, 99):8.0f}{max(values):8.0f}")
    print(f"  busy / baseline at p50: {median(busy) / median(base):.1f}x")


if __name__ == "__main__":
    main()
