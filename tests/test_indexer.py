"""Indexing the corpus folder: bad files are skipped with a named reason, the rest is indexed."""

import pytest

from assistant.index_engine import IndexLockedError, IndexMismatchError
from assistant.store import IndexStore

from .conftest import UNDECODABLE


def write_bad_files(corpus):
    (corpus / "tom.txt").write_bytes(b"")
    (corpus / "bild.txt").write_bytes(bytes(range(256)) * 40)
    (corpus / "trasig.txt").write_bytes(UNDECODABLE)
    (corpus / "kalkyl.xlsx").write_bytes(b"PK\x03\x04")


def test_bad_inputs_are_named_while_the_rest_is_indexed(small_assistant, small_corpus):
    write_bad_files(small_corpus)
    report = small_assistant.index()
    reasons = {s["path"]: s["reason"] for s in report.skipped}
    assert reasons["tom.txt"] == "empty file"
    assert "binary file" in reasons["bild.txt"]
    assert reasons["trasig.txt"].startswith("undecodable text")
    assert "unsupported file type" in reasons["kalkyl.xlsx"]
    assert sorted(report.added) == ["stockholm-studieresa-toronto.txt",
                                    "vanorter-gladsaxe-pirkkala-ski-solna-2008.txt"]
    answer = small_assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")
    assert "12 stycken jobbpakker" in answer.text


def test_incremental_add_update_delete(small_assistant, small_corpus):
    first = small_assistant.index()
    assert first.embedded_chunks == first.total_chunks > 0

    unchanged = small_assistant.index()
    assert unchanged.embedded_chunks == 0 and unchanged.unchanged == 2

    new = small_corpus / "boras.txt"
    new.write_text("Borås stad erbjuder språkcafé för nyanlända varje tisdag i stadsbiblioteket.",
                   encoding="utf-8")
    added = small_assistant.index()
    assert added.added == ["boras.txt"] and added.embedded_chunks == 1
    assert added.total_chunks == first.total_chunks + 1

    new.write_text("Borås stad erbjuder läxhjälp för nyanlända elever varje torsdag.", encoding="utf-8")
    updated = small_assistant.index()
    assert updated.updated == ["boras.txt"] and updated.embedded_chunks == 1
    texts = [p.text for p in small_assistant.ask("Vad erbjuder Borås nyanlända?").passages]
    assert any("läxhjälp" in t for t in texts) and not any("språkcafé" in t for t in texts)

    new.unlink()
    removed = small_assistant.index()
    assert removed.removed == ["boras.txt"] and removed.total_chunks == first.total_chunks
    answer = small_assistant.ask("Vad erbjuder Borås nyanlända?")
    assert all(c.passage.source != "boras.txt" for c in answer.citations)


def test_a_file_that_turns_bad_keeps_its_indexed_version(small_assistant, small_corpus):
    small_assistant.index()
    (small_corpus / "stockholm-studieresa-toronto.txt").write_bytes(b"")
    report = small_assistant.index()
    assert report.skipped == [{"path": "stockholm-studieresa-toronto.txt", "reason": "empty file"}]
    assert report.removed == []
    answer = small_assistant.ask("Vilken ambassadör medverkar på seminariet den 14 april?")
    assert "Volkoff" in answer.text


def test_one_writer_at_a_time(small_assistant):
    small_assistant.index()
    store = IndexStore(small_assistant.settings.index_dir)
    from assistant.indexer import expected_manifest

    manifest = expected_manifest(small_assistant.settings, small_assistant.embedder)
    with store.writer(manifest):
        with pytest.raises(IndexLockedError, match="another index build is running"):
            small_assistant.index()


def test_changed_chunk_settings_are_a_clear_error(small_assistant, embedder):
    from assistant.pipeline import Assistant

    small_assistant.index()
    changed = small_assistant.settings.model_copy(update={"chunk_tokens": 160})
    with pytest.raises(IndexMismatchError) as err:
        Assistant(changed, embedder=embedder).index()
    message = str(err.value)
    assert "200 tokens" in message and "160 tokens" in message and "--rebuild" in message
    report = Assistant(changed, embedder=embedder).index(rebuild=True)
    assert report.embedded_chunks == report.total_chunks


def test_older_keyword_analysis_is_updated_without_re_embedding(small_assistant):
    import json

    small_assistant.index()
    store = IndexStore(small_assistant.settings.index_dir)
    manifest_path = store.snapshots_dir / store.current_name() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["analyzer"] = "an-older-analyzer"
    manifest_path.write_text(json.dumps(manifest))
    from assistant.pipeline import Assistant

    reader = Assistant(small_assistant.settings, embedder=small_assistant.embedder)
    with pytest.raises(IndexMismatchError, match="nothing is re-embedded"):
        reader.ask("Vad gjorde Gladsaxe med jobbpakker?")
    report = reader.index()
    assert report.embedded_chunks == 0 and report.unchanged == 2
    assert "12 stycken jobbpakker" in reader.ask("Vad gjorde Gladsaxe med jobbpakker?").text


def test_a_sync_that_changes_nothing_keeps_the_live_snapshot(small_assistant, small_corpus):
    small_assistant.index()
    store = IndexStore(small_assistant.settings.index_dir)
    live = store.current_name()
    report = small_assistant.index()
    assert report.unchanged == 2 and not report.added and not report.removed
    assert store.current_name() == live
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == [live]

    catalog = small_corpus / "catalog.toml"  # a new title is a change, though nothing is embedded
    catalog.write_text(catalog.read_text("utf-8").replace(
        "Studieresa till Toronto:", "Studieresan till Toronto:"), "utf-8")
    report = small_assistant.index()
    assert report.embedded_chunks == 0 and store.current_name() != live
    titles = {d.title for d in small_assistant.snapshot().documents.values()}
    assert any(t.startswith("Studieresan till Toronto:") for t in titles)
