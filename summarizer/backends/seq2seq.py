"""Seq2seq backends over one checkpoint: plain `transformers` and its CTranslate2 int8 copy."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from summarizer.text import clean_summary, model_input, sentences

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """The ruT5-gazeta model card's settings; both backends use the same ones."""
    max_input_tokens: int = 600
    max_new_tokens: int = 120
    num_beams: int = 4
    no_repeat_ngram_size: int = 4
    prefix: str = ""


def model_name(path_or_id: str) -> str:
    return Path(path_or_id.rstrip("/")).name if os.path.isdir(path_or_id) else path_or_id


def fit_to_window(tokenizer, text: str, max_tokens: int) -> str:
    """Whole leading sentences that fit the model's window: news puts the point first."""
    text = model_input(text)
    if len(tokenizer(text, add_special_tokens=True)["input_ids"]) <= max_tokens:
        return text
    kept: list[str] = []
    used = len(tokenizer("", add_special_tokens=True)["input_ids"])  # </s> and the like
    for sent in sentences(text):
        cost = len(tokenizer(" " + sent, add_special_tokens=False)["input_ids"])
        if used + cost > max_tokens:
            break
        kept.append(sent)
        used += cost
    # A first sentence longer than the window: let the tokenizer truncate it.
    return " ".join(kept) if kept else text


def prepare_inputs(tokenizer, texts: list[str], gen: GenerationSettings) -> list[str]:
    """What both backends feed the model: the prefix and the leading sentences that fit."""
    return [gen.prefix + fit_to_window(tokenizer, t, gen.max_input_tokens) for t in texts]


class TransformersBackend:
    def __init__(self, model: str, gen: GenerationSettings = GenerationSettings(), threads: int = 0) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        torch.set_flush_denormal(True)  # denormals make CPU inference crawl
        self.torch = torch
        self.gen = gen
        self.name = model_name(model)
        self.tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(model, local_files_only=True).eval()

    def summarize(self, texts: list[str]) -> list[str]:
        batch = self.tokenizer(prepare_inputs(self.tokenizer, texts, self.gen), return_tensors="pt", padding=True,
                               truncation=True, max_length=self.gen.max_input_tokens)
        with self.torch.inference_mode():
            # Only ids and mask: some tokenizers add token_type_ids, which seq2seq generate() rejects.
            out = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                      max_new_tokens=self.gen.max_new_tokens, num_beams=self.gen.num_beams,
                                      no_repeat_ngram_size=self.gen.no_repeat_ngram_size, early_stopping=True)
        return [clean_summary(s) for s in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


class CTranslate2Backend:
    def __init__(self, ct2_dir: str, gen: GenerationSettings = GenerationSettings(), threads: int = 0,
                 name: str | None = None) -> None:
        import ctranslate2
        from transformers import AutoTokenizer

        self.gen = gen
        self.name = name or model_name(ct2_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(ct2_dir, local_files_only=True)
        self.translator = ctranslate2.Translator(ct2_dir, device="cpu", compute_type="int8",
                                                 intra_threads=threads or os.cpu_count() or 1)

    def summarize(self, texts: list[str]) -> list[str]:
        encoded = self.tokenizer(prepare_inputs(self.tokenizer, texts, self.gen), truncation=True,
                                 max_length=self.gen.max_input_tokens)["input_ids"]
        tokens = [self.tokenizer.convert_ids_to_tokens(ids) for ids in encoded]
        results = self.translator.translate_batch(
            tokens, beam_size=self.gen.num_beams, max_decoding_length=self.gen.max_new_tokens,
            no_repeat_ngram_size=self.gen.no_repeat_ngram_size, max_batch_size=0,
        )
        # A list of tokens gives a list of ids (the tokenizer's signature also allows one token, one id).
        ids = [cast("list[int]", self.tokenizer.convert_tokens_to_ids(r.hypotheses[0])) for r in results]
        return [clean_summary(text) for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


def convert_to_ctranslate2(model: str, out_dir: str, quantization: str = "int8") -> str:
    """One-time conversion of a local/cached checkpoint; the tokenizer is saved beside it."""
    import ctranslate2
    from transformers import AutoTokenizer

    ctranslate2.converters.TransformersConverter(model, load_as_float16=False).convert(
        out_dir, quantization=quantization, force=True)
    AutoTokenizer.from_pretrained(model, local_files_only=True).save_pretrained(out_dir)
    return out_dir
