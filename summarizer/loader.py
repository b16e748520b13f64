"""Choosing and loading the summarizer once per process, lazily, with the extractive fallback."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from summarizer.backends import Backend
from summarizer.backends.extractive import ExtractiveBackend

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SummarizerConfig:
    model: str
    backend: str = "auto"  # auto | transformers | ctranslate2 | extractive
    ct2_dir: str = ""
    threads: int = 0


def load_backend(config: SummarizerConfig) -> Backend:
    """The configured backend, or the extractive one (logged once) when it cannot load."""
    from summarizer.backends.seq2seq import CTranslate2Backend, TransformersBackend, model_name

    if config.backend == "extractive":
        return ExtractiveBackend()
    use_ct2 = config.backend == "ctranslate2" or (
        config.backend == "auto" and config.ct2_dir and os.path.isfile(os.path.join(config.ct2_dir, "model.bin")))
    try:
        backend: Backend
        if use_ct2:
            backend = CTranslate2Backend(config.ct2_dir, threads=config.threads,
                                         name=f"{model_name(config.model)} (ct2-int8)")
        else:
            backend = TransformersBackend(config.model, threads=config.threads)
    except Exception as exc:  # missing weights, no torch, no hub access, a broken directory...
        where = config.ct2_dir if use_ct2 else config.model
        # In `auto` a model may well be absent (weights not fetched, torch not installed): that is said once,
        # as information; a backend chosen by name that cannot load is a warning.
        level = logging.INFO if config.backend == "auto" else logging.WARNING
        log.log(level, "summarization model %s cannot be loaded (%s: %s); using the extractive summarizer",
                where, type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
        return ExtractiveBackend()
    log.info("summarization model loaded: %s", backend.name)
    return backend


class LazySummarizer:
    """Loads its backend on first use (from a worker thread), never at import or in a handler."""

    def __init__(self, config: SummarizerConfig) -> None:
        self.config = config
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self._fallback = ExtractiveBackend()

    @property
    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                self._backend = load_backend(self.config)
            return self._backend

    @property
    def loaded_name(self) -> str | None:
        return self._backend.name if self._backend else None

    def summarize(self, texts: list[str]) -> list[tuple[str, str]]:
        """(summary, method that made it) per text; where the model fails or says nothing, the fallback does."""
        backend = self.backend
        if backend.name == self._fallback.name:
            return [(s, backend.name) for s in backend.summarize(texts)]
        try:
            made = backend.summarize(texts)
        except Exception:
            log.exception("model %s failed on a batch of %d; using the extractive summarizer", backend.name,
                          len(texts))
            made = [""] * len(texts)
        return [(s, backend.name) if s else (self._fallback.summarize_one(t), self._fallback.name)
                for s, t in zip(made, texts, strict=True)]

    def headlines(self, texts: list[str]) -> list[str]:
        """A headline model's line per text (HEADLINE_MODEL); "" where it cannot load or fails: the digest then
        heads the statement by its own first line (summarizer.headline)."""
        backend = self.backend
        if backend.name == self._fallback.name:
            return [""] * len(texts)
        try:
            return backend.summarize(texts)
        except Exception:
            log.exception("headline model %s failed on a batch of %d", backend.name, len(texts))
            return [""] * len(texts)
