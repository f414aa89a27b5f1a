"""Sparse "latent term" vectors, the re-ranking signal of retrieval.

The bundled model ships a sparse head: a top-k sparse autoencoder over e5's token states whose
features act like learned, language-independent terms ("job training" and "arbetsmarknads-
utbildning" share features; OCR-damaged spellings keep most of theirs). Each chunk's vector is
computed once at index time and stored with it; a question's vector is computed when it is asked,
and the dot product scores the candidates that dense and BM25 search found.

Measured on the evaluation (56 questions), re-ranking the top 40 fused candidates with these
scores lifted MRR@10 0.815 -> 0.85 with 2,228 distractor documents and 0.807 -> 0.86 on the bundled
corpus. Keeping the 128 strongest features in float16 ranks as well as all 256 in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURES_KEPT = 128


@dataclass(frozen=True)
class LatentVector:
    """The strongest features of one text: feature ids ascending, with their weights."""

    features: np.ndarray  # uint16
    weights: np.ndarray  # float16

    @classmethod
    def from_sparse(cls, features: np.ndarray, weights: np.ndarray,
                    keep: int = FEATURES_KEPT) -> "LatentVector":
        features = np.asarray(features)
        weights = np.asarray(weights, dtype=np.float32)
        if len(features) != len(weights):
            raise ValueError(f"{len(features)} features but {len(weights)} weights")
        if len(features) and (features.min() < 0 or features.max() > np.iinfo(np.uint16).max):
            raise ValueError("latent feature ids must fit in 16 bits")
        strongest = np.argsort(-weights, kind="stable")[:keep]
        order = strongest[np.argsort(features[strongest], kind="stable")]
        return cls(features[order].astype(np.uint16), weights[order].astype(np.float16))

    def to_blobs(self) -> tuple[bytes, bytes]:
        return self.features.astype("<u2").tobytes(), self.weights.astype("<f2").tobytes()

    @classmethod
    def from_blobs(cls, features: bytes, weights: bytes) -> "LatentVector":
        f = np.frombuffer(features, dtype="<u2")
        w = np.frombuffer(weights, dtype="<f2")
        if len(f) != len(w):
            raise ValueError(f"{len(f)} latent features but {len(w)} weights")
        return cls(f.astype(np.uint16), w.astype(np.float16))

    def dot(self, other: "LatentVector") -> float:
        common, mine, theirs = np.intersect1d(
            self.features, other.features, assume_unique=True, return_indices=True)
        if not len(common):
            return 0.0
        return float(self.weights[mine].astype(np.float32) @ other.weights[theirs].astype(np.float32))
