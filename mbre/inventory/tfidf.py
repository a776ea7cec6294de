"""TF-IDF vectors of short texts, as scikit-learn's `TfidfVectorizer` makes them with its defaults.

The inventory needs TF-IDF for a few dozen relation descriptions and examples. scikit-learn gives the
same vectors but costs every labelling process some 1.6 s and 130 MB to import (it brings pandas and
pyarrow when they are installed); this is the same arithmetic in NumPy: words of two or more word
characters, lower-cased; idf = ln((1 + n) / (1 + df)) + 1; optionally sublinear tf (1 + ln tf); rows
L2-normalised; columns in the vocabulary's alphabetical order. `tests/unit/inventory/test_tfidf.py`
holds it equal to scikit-learn's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

#: scikit-learn's default `token_pattern`.
_WORD = re.compile(r"(?u)\b\w\w+\b")


def words(text: str) -> list[str]:
    """The terms of a text, in order."""
    return _WORD.findall(text.lower())


class Tfidf:
    """A vocabulary and idf weights fitted on a few documents; rows are dense and L2-normalised."""

    def __init__(self, documents: Sequence[str], *, sublinear_tf: bool = False) -> None:
        self.sublinear_tf = sublinear_tf
        counted = [Counter(words(document)) for document in documents]
        terms = sorted({term for counts in counted for term in counts})
        self.vocabulary: dict[str, int] = {term: column for column, term in enumerate(terms)}
        frequency = np.zeros(len(terms), dtype=np.float64)
        for counts in counted:
            for term in counts:
                frequency[self.vocabulary[term]] += 1
        self.idf = np.log((1 + len(documents)) / (1 + frequency)) + 1.0
        self.matrix = np.vstack([self._row(counts) for counts in counted]) if counted else np.zeros((0, 0))

    def transform(self, text: str) -> np.ndarray:
        """One text's row (1 x vocabulary); terms outside the vocabulary are ignored."""
        return self._row(Counter(words(text)))[None, :]

    def _row(self, counts: Counter[str]) -> np.ndarray:
        row = np.zeros(len(self.vocabulary), dtype=np.float64)
        for term, count in counts.items():
            column = self.vocabulary.get(term)
            if column is not None:
                row[column] = (np.log(count) + 1.0 if self.sublinear_tf else count) * self.idf[column]
        norm = np.sqrt(np.dot(row, row))
        return row / norm if norm > 0 else row


def cosine_similarity(matrix: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows (rows of zeros are similar to nothing)."""
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    unit = matrix / np.where(norms > 0, norms, 1.0)[:, None]
    return np.asarray(unit @ unit.T)
