"""A build killed at any moment leaves the previous index loadable; readers see complete snapshots."""

import os
import signal
import subprocess
import sys

import pytest

from assistant.index_engine import FAULT_ENV, IndexCorruptError
from assistant.store import IndexStore

from .conftest import ROOT

NEW_DOC = "Kungsbacka kommun erbjuder samhällsorientering på arabiska och dari varje vecka."


def index_in_subprocess(corpus, index, fault=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "assistant", "index", "--corpus", str(corpus), "--index", str(index)],
        env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("fault", ["embedding", "snapshot-write", "before-switch"])
def test_killed_build_leaves_the_previous_index_working(small_assistant, small_corpus, fault):
    small_assistant.index()
    store = IndexStore(small_assistant.settings.index_dir)
    live_before = store.current_name()
    before = small_assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")

    (small_corpus / "kungsbacka.txt").write_text(NEW_DOC, encoding="utf-8")
    killed = index_in_subprocess(small_corpus, small_assistant.settings.index_dir, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    assert store.current_name() == live_before
    snapshot = store.open()
    assert "kungsbacka.txt" not in snapshot.documents
    after = small_assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")
    assert after.text == before.text

    finished = index_in_subprocess(small_corpus, small_assistant.settings.index_dir)
    assert finished.returncode == 0, finished.stderr
    assert "1 added" in finished.stdout
    answer = small_assistant.ask("Vilka språk har samhällsorienteringen i Kungsbacka?")
    assert any(c.passage.source == "kungsbacka.txt" for c in answer.citations)
    leftovers = [p.name for p in store.snapshots_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_reader_keeps_its_snapshot_during_a_build_and_moves_on_after(small_assistant, small_corpus):
    small_assistant.index()
    old = small_assistant.snapshot()
    (small_corpus / "kungsbacka.txt").write_text(NEW_DOC, encoding="utf-8")
    # a second process builds while this reader holds the old snapshot
    assert index_in_subprocess(small_corpus, small_assistant.settings.index_dir).returncode == 0
    assert "kungsbacka.txt" not in old.documents
    assert old.keyword_search(["gladsax"], 3)  # the old snapshot still answers
    assert old.chunks([0])
    fresh = small_assistant.snapshot()
    assert fresh.name != old.name and "kungsbacka.txt" in fresh.documents


def test_old_snapshots_are_cleaned_up(small_assistant, small_corpus):
    for i in range(4):
        (small_corpus / f"extra-{i}.txt").write_text(f"Dokument nummer {i} om SFI i Kungsbacka.",
                                                     encoding="utf-8")
        small_assistant.index()
    store = IndexStore(small_assistant.settings.index_dir)
    remaining = sorted(p.name for p in store.snapshots_dir.iterdir())
    assert len(remaining) == 2 and store.current_name() in remaining


def index_with_current_pointing_at(assistant, target: str) -> IndexStore:
    assistant.index()
    store = IndexStore(assistant.settings.index_dir)
    (store.root / "CURRENT").write_text(target + "\n")
    return store


def test_broken_current_pointer_is_a_clear_error(small_assistant):
    store = index_with_current_pointing_at(small_assistant, "../../etc")
    with pytest.raises(IndexCorruptError, match="does not name a snapshot"):
        store.open()


def test_rebuild_repairs_a_pointer_to_a_missing_snapshot(small_assistant):
    store = index_with_current_pointing_at(small_assistant, "gone")
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        small_assistant.index()
    report = small_assistant.index(rebuild=True)
    assert report.total_chunks > 0 and store.current_name() != "gone"
    assert "12 stycken jobbpakker" in small_assistant.ask("Vad gjorde Gladsaxe med jobbpakker?").text
