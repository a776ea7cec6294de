"""mbre's own TF-IDF gives scikit-learn's vectors, so groupings and retrieval are what they were."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity as sklearn_cosine

from mbre.inventory.grouping import description_similarity
from mbre.inventory.tfidf import Tfidf, cosine_similarity
from mbre.schemas.relations import RelationSchema
from tests.support.data import CROSSRE, SEMEVAL, synthetic_schema

TEXTS = [
    "The Über-café's owner, Zoë, sold 2 cafés in 2019; the café café CAFÉ!",
    "Tokens like a, I and x are too short; naïve résumé-writing isn't.",
    "The kitchen is part of the house.",
    "",
    "日本語 の 文 も 単語 です",
]


@pytest.mark.parametrize("sublinear_tf", [False, True])
def test_vectors_equal_scikit_learns(sublinear_tf):
    schema_texts = [
        r.description
        for path in (SEMEVAL, CROSSRE)
        for r in RelationSchema.from_file(path / "relations.json").relations
    ]
    for documents in (TEXTS, schema_texts):
        ours = Tfidf(documents, sublinear_tf=sublinear_tf)
        theirs = TfidfVectorizer(sublinear_tf=sublinear_tf)
        expected = theirs.fit_transform(documents).toarray()
        assert ours.vocabulary == theirs.vocabulary_
        np.testing.assert_allclose(ours.matrix, expected, rtol=1e-12, atol=1e-12)
        for text in (*TEXTS, "an unseen sentence about the owner's cafés and a house"):
            np.testing.assert_allclose(
                ours.transform(text), theirs.transform([text]).toarray(), rtol=1e-12, atol=1e-12
            )
        np.testing.assert_allclose(
            cosine_similarity(ours.matrix), sklearn_cosine(expected), rtol=1e-12, atol=1e-12
        )


def test_description_similarity_is_scikit_learns(semeval_schema):
    for schema in (
        semeval_schema,
        synthetic_schema(13),
        RelationSchema.from_file(CROSSRE / "relations.json"),
    ):
        documents = [r.description for r in schema.relations]
        expected = sklearn_cosine(TfidfVectorizer().fit_transform(documents))
        np.testing.assert_allclose(description_similarity(schema), expected, rtol=1e-12, atol=1e-12)


def test_labelling_does_not_import_scikit_learn():
    """The grouping, the retrieval and the graph load without scikit-learn (and so without pandas)."""
    code = (
        "import sys, json; import mbre.run.discover, mbre.inventory.inventory, mbre.graph.builder; "
        "print(json.dumps(sorted(m for m in ('sklearn', 'pandas', 'pyarrow') if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(done.stdout) == []
