"""Settings from an untrusted config file: bad values are named, with the file they came from."""

import pytest

from assistant.config import ConfigError, load_settings


def test_bad_values_in_config_file_name_the_file_and_each_field(tmp_path, monkeypatch):
    config = tmp_path / "assistant.toml"
    config.write_text('fusion = "magic"\nmin_reader_confidence = -1\n', "utf-8")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert str(config) in message
    assert "fusion" in message and "min_reader_confidence" in message


def test_overlap_not_below_chunk_size_is_refused(monkeypatch):
    monkeypatch.delenv("ASSISTANT_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="chunk_overlap"):
        load_settings(chunk_tokens=100, chunk_overlap=120)


def test_malformed_config_file_is_a_clear_error(tmp_path, monkeypatch):
    config = tmp_path / "assistant.toml"
    config.write_text("fusion = [unclosed\n", "utf-8")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings()


def test_bad_rerank_values_are_named(tmp_path, monkeypatch):
    config = tmp_path / "assistant.toml"
    config.write_text('latent_weight = -0.5\nrerank_candidates = 0\nlatent_rerank = "perhaps"\n',
                      "utf-8")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert str(config) in message
    assert all(name in message for name in ("latent_weight", "rerank_candidates", "latent_rerank"))


def test_bad_translation_and_quoting_values_are_named(tmp_path, monkeypatch):
    config = tmp_path / "assistant.toml"
    config.write_text('translations_per_word = 0\ntranslate_english = "maybe"\n'
                      'quote_following_sentence = "often"\ngloss_weight = -1\n'
                      'gloss_translations_per_word = 0\n', "utf-8")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert str(config) in message
    assert all(name in message for name in
               ("translations_per_word", "translate_english", "quote_following_sentence",
                "gloss_weight", "gloss_translations_per_word"))


def test_bad_reader_rerank_values_are_named(tmp_path, monkeypatch):
    config = tmp_path / "assistant.toml"
    config.write_text("reader_rerank_passages = 99\nreader_rerank_weight = -1\n", "utf-8")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert str(config) in message
    assert all(name in message for name in ("reader_rerank_passages", "reader_rerank_weight"))


@pytest.mark.parametrize("line, name", [
    ("document_prior_temperature = 0", "document_prior_temperature"),
    ("document_prior_temperature = -0.5", "document_prior_temperature"),
    ("document_prior_temperature = 50", "document_prior_temperature"),
    ('document_prior_temperature = "cool"', "document_prior_temperature"),
    ("document_prior_weight = -1", "document_prior_weight"),
    ("document_prior_candidates = 0", "document_prior_candidates"),
])
def test_bad_document_prior_values_are_named(tmp_path, monkeypatch, line, name):
    config = tmp_path / "assistant.toml"
    config.write_text(line + "\n", "utf-8")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(config) in str(err.value) and name in str(err.value)
