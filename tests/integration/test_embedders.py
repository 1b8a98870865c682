"""The packaged models really load offline and separate related from unrelated text,
in Korean and English."""

from __future__ import annotations

import numpy as np
import pytest

from connectors.embeddings.e5_small import E5SmallEmbedder
from connectors.embeddings.port import Embedder
from connectors.embeddings.use_m3 import UseM3Embedder

pytestmark = pytest.mark.integration

PASSAGES = [
    "세종대왕은 1443년에 훈민정음을 창제하였다.",
    "캔버라는 오스트레일리아의 수도이다.",
    "Photosynthesis converts light energy into chemical energy in plants.",
]


@pytest.fixture(scope="module", params=["use-m3", "e5-small"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    return UseM3Embedder() if request.param == "use-m3" else E5SmallEmbedder()


def test_vectors_are_normalised_with_the_declared_dim(embedder: Embedder) -> None:
    vectors = embedder.embed_passages(PASSAGES)
    assert vectors.shape == (3, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    assert embedder.embed_queries([]).shape == (0, embedder.dim)


@pytest.mark.parametrize(
    ("query", "relevant"),
    [
        ("한글을 만든 임금은 누구인가요?", 0),
        ("호주의 수도는 어디일까?", 1),
        ("How do plants make food from sunlight?", 2),
    ],
)
def test_paraphrased_query_ranks_its_passage_first(
    embedder: Embedder, query: str, relevant: int
) -> None:
    scores = embedder.embed_passages(PASSAGES) @ embedder.embed_queries([query])[0]
    assert int(np.argmax(scores)) == relevant
