import socket

import pytest

from assistant import tokens


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_tiktoken_works_offline_from_an_empty_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    tokens.get_encoding.cache_clear()
    import tiktoken.registry

    tiktoken.registry.ENCODINGS.pop(tokens.ENCODING, None)
    encoding = tokens.get_encoding()
    # "hello world" is [15339, 1917] in cl100k_base
    assert encoding.encode("hello world") == [15339, 1917]
    assert tokens.count_tokens("Vad gjorde Gladsaxe med jobbpakker?") > 5
    seeded = list((tmp_path / "cache").iterdir())
    assert len(seeded) == 1


def test_seeding_replaces_a_corrupt_cached_file(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    path = tokens.seed_cache()
    path.write_bytes(b"garbage")
    assert tokens.seed_cache() == path
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == tokens._SOURCES["cl100k_base"][1]
