"""Distributed embedding with Ray Data: a pool of workers, each with its own copy of the embedding
model (loaded once per worker), embeds the chunks of a sync; the indexer writes what comes back.

Imported only by `index --ray`; without it Ray is never imported.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .config import Settings
from .latent_terms import LatentVector

PACKAGE = Path(__file__).resolve().parent


class RayEmbeddingError(RuntimeError):
    pass


class EmbedBatch:
    """One Ray Data worker: loads the model once, then embeds batch after batch."""

    def __init__(self, settings: Settings, with_latent: bool) -> None:
        from .embeddings import create_embedder

        self.embedder = create_embedder(settings)
        self.with_latent = with_latent
        self.recipe = worker_recipe(self.embedder, with_latent)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        features, weights = [], []
        if self.with_latent:
            dense, latent = self.embedder.embed_with_latent(texts, is_query=False)
            for vector in latent:
                f, w = vector.to_blobs()
                features.append(f)
                weights.append(w)
        else:
            dense = self.embedder.embed_passages(texts)
            features = weights = [b""] * len(texts)
        return {"key": batch["key"], "dense": np.asarray(dense, dtype=np.float32),
                "features": np.array(features, dtype=object),
                "weights": np.array(weights, dtype=object),
                "recipe": np.array([self.recipe] * len(texts), dtype=object)}


def embed_with_ray(texts: Sequence[str], settings: Settings, expected_recipe: str,
                   with_latent: bool, address: str | None, workers: int | None,
                   batch_size: int) -> Iterator[tuple[int, np.ndarray, LatentVector | None]]:
    """(position in `texts`, dense vector, latent terms) for every text, in no fixed order.

    `address` is a Ray cluster's address ("HOST:PORT" or "ray://HOST:10001"); None starts a
    local one. The package travels to the workers with the job."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayEmbeddingError(
            "index --ray needs Ray: pip install -r requirements-scale.txt") from exc
    if not ray.is_initialized():
        if address and address != "auto":
            _check_reachable(address)
        try:
            ray.init(address=address, runtime_env={"py_modules": [str(PACKAGE)]},
                     log_to_driver=False, include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayEmbeddingError(f"cannot reach the Ray cluster at {address or 'local'} "
                                    f"({exc})") from exc
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the indexer shows its own
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # enough blocks for every worker to have work, each a few batches long
    blocks = max(1, min(workers * 8, len(texts) // batch_size))
    dataset = ray.data.from_items([{"key": i, "text": t} for i, t in enumerate(texts)],
                                  override_num_blocks=blocks)
    embedded = dataset.map_batches(
        EmbedBatch, fn_constructor_args=(settings, with_latent), batch_size=batch_size,
        concurrency=workers, num_cpus=1, batch_format="numpy")
    for batch in embedded.iter_batches(batch_size=batch_size, batch_format="numpy"):
        recipe = str(batch["recipe"][0])
        if recipe != expected_recipe:
            raise RayEmbeddingError(
                f"a Ray worker embeds with {recipe!r}, the index needs {expected_recipe!r}: "
                "give the workers the same model and engine (a C compiler for the fast engine)")
        for key, dense, features, weights in zip(batch["key"], batch["dense"],
                                                 batch["features"], batch["weights"]):
            latent = LatentVector.from_blobs(features, weights) if with_latent else None
            yield int(key), dense, latent


def _check_reachable(address: str) -> None:
    """Fail at once on a cluster that does not answer (ray.init would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise RayEmbeddingError(f"cannot reach the Ray cluster at {address} ({exc})") from exc


def worker_recipe(embedder, with_latent: bool) -> str:
    return f"{embedder.id} {embedder.latent_id if with_latent else ''}"
