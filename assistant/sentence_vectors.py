"""The vectors of the sentences the reader reads, made once when a document is indexed.

The reader scores every sentence of the passages it reads by its dense vector and latent terms.
Embedding those sentences when the question comes was most of an answer's time (about 1 s for
the 8 passages read, on two cores without AVX-512), so the indexer embeds each sentence of a
document as the reader will read it, and the index keeps the vectors under a key made from that
text. The reader embeds only what the index lacks (an index built before, one built by Ray
workers, or by an engine that keeps none); either way a sentence gets the same vector, rounded
to float16 as the index stores it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import numpy as np

from .latent_terms import LatentVector

if TYPE_CHECKING:
    from .embeddings import Embedder
    from .index_engine import IndexReader

EMBEDDED_WORDS = 48  # of a sentence, for its vectors
VECTOR_DTYPE = np.dtype("<f2")

SentenceVector = tuple[np.ndarray, "LatentVector | None"]
# the stored vectors of those of the given texts an index holds
StoredSentences = Callable[[Sequence[str]], Mapping[str, SentenceVector]]


def embedded_text(sentence: str) -> str:
    """What is embedded of a sentence as the reader reads it: a run-on "sentence" (a table row,
    OCR text without full stops) would cost the model more than all the others together, and
    its opening words say what it is about."""
    return " ".join(sentence.split()[:EMBEDDED_WORDS])


def sentence_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def sentence_recipe(embedder: "Embedder") -> str:
    """Recorded in the manifest: vectors made by another model or latent head are not used."""
    return f"{embedder.id};{embedder.latent_id or 'no-latent'};{VECTOR_DTYPE.str}"


def kept_by(snapshot: "IndexReader", embedder: "Embedder") -> bool:
    """Whether `snapshot` keeps sentence vectors made as `embedder` makes them (another model's
    or latent head's are not used)."""
    return snapshot.manifest.sentence_vectors == sentence_recipe(embedder)


def as_stored(dense: np.ndarray) -> np.ndarray:
    """A vector as the index gives it back."""
    return np.asarray(dense, dtype=VECTOR_DTYPE).astype(np.float32)


@dataclass
class SentenceVectors:
    """The embedded texts of a document's sentences, with their vectors."""

    texts: list[str]
    dense: np.ndarray  # float32, one row per text
    latent: list[LatentVector | None]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.dense) or len(self.texts) != len(self.latent):
            raise ValueError(f"{len(self.texts)} sentences but {len(self.dense)} vectors and "
                             f"{len(self.latent)} latent-term vectors")


def _sentences_of(text: str) -> tuple[str, ...]:
    from .reader import read_sentences

    return tuple(dict.fromkeys(e for e in map(embedded_text, read_sentences(text)[1]) if e))


# retrieval asks for the sentences of its ~100 candidates on every question, and the same
# passages come back often
@lru_cache(maxsize=4096)
def chunk_sentences(text: str) -> tuple[str, ...]:
    """The distinct embedded texts of the sentences the reader reads in a chunk's text, the keys
    the index keeps their vectors under."""
    return _sentences_of(text)


def document_sentences(chunk_texts: Iterable[str]) -> list[str]:
    """The distinct embedded texts of the sentences the reader will read in these chunks."""
    found: dict[str, None] = {}
    for text in chunk_texts:
        found.update(dict.fromkeys(_sentences_of(text)))
    return list(found)


def best_sentence_cosines(texts: Mapping[int, str], query: np.ndarray,
                          stored: StoredSentences) -> dict[int, float]:
    """For each text (a chunk's, by its id), the best cosine of `query` with the stored vectors
    of its sentences; texts none of whose sentences are stored are left out."""
    sentences = {i: chunk_sentences(text) for i, text in texts.items()}
    vectors = stored(list(dict.fromkeys(s for found in sentences.values() for s in found)))
    query = np.asarray(query, dtype=np.float32)
    best: dict[int, float] = {}
    for i, found in sentences.items():
        held = [vectors[s][0] for s in found if s in vectors]
        if held:
            best[i] = float(np.max(np.vstack(held) @ query))
    return best


def embed_sentences(embedder: "Embedder", texts: Sequence[str], batch_size: int,
                    advance: Callable[[int], None] | None = None) -> SentenceVectors:
    """The vectors of `texts` as the reader computes them (passage prefix, latent terms from the
    same pass where the embedder has a sparse head)."""
    dense_parts: list[np.ndarray] = []
    latent: list[LatentVector | None] = []
    for i in range(0, len(texts), batch_size):
        batch = list(texts[i:i + batch_size])
        if embedder.latent_id:
            dense, batch_latent = embedder.embed_with_latent(batch, is_query=False)
            latent.extend(batch_latent)
        else:
            dense = embedder.embed_passages(batch)
            latent.extend([None] * len(batch))
        dense_parts.append(as_stored(dense))
        if advance:
            advance(len(batch))
    matrix = (np.vstack(dense_parts) if dense_parts
              else np.zeros((0, embedder.dim), dtype=np.float32))
    return SentenceVectors(list(texts), matrix, latent)
