"""API keys and the audit log on disk: damaged files are named, revocations count at once."""

import pytest

from assistant.audit import AuditLog
from assistant.keys import KeyStore, KeyStoreError

from .test_cli import run


def test_a_damaged_keys_file_is_named(tmp_path):
    path = tmp_path / "state" / "keys.json"
    path.parent.mkdir()
    path.write_text('{"keys": [{"id": "x"', "utf-8")
    with pytest.raises(KeyStoreError, match=str(path)):
        KeyStore(path).verify("ak_anything")
    result = run("keys", "list", cwd=tmp_path, env={"ASSISTANT_STATE_DIR": str(path.parent)})
    assert result.returncode == 2 and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_revocation_by_another_store_counts_at_the_next_check(tmp_path):
    path = tmp_path / "keys.json"
    server_side, command_line = KeyStore(path), KeyStore(path)
    record, secret = command_line.create("editor", "anna")
    assert server_side.verify(secret).id == record.id
    assert server_side.verify(secret).id == record.id  # from its cache
    command_line.revoke("anna")
    assert server_side.verify(secret) is None
    assert server_side.verify("not-a-key") is None and server_side.verify("ak_wrong") is None


def test_a_damaged_audit_line_is_shown_not_dropped(tmp_path):
    log = AuditLog(tmp_path / "audit.log")
    log.record("anna", "add", "a.txt", "0" * 64, "added")
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write("{half a line\n")
    log.record("bo", "remove", "a.txt", "0" * 64, "removed")
    entries = log.entries()
    assert [e["action"] for e in entries] == ["add", "unreadable", "remove"]
    assert entries[1]["outcome"] == f"{log.path}:2: not a JSON line"
    # the last few, as the UI shows them: the damaged line keeps its own line number
    assert log.entries(last=2) == entries[1:]
