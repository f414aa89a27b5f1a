"""The audit log: one JSON line for every change to the corpus (who, when, file, sha256, outcome),
appended under a file lock so the UI and the API can write to it at once."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=10)

    def record(self, who: str, action: str, file: str, sha256: str | None, outcome: str) -> dict:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "who": who,
                 "action": action, "file": file, "sha256": sha256, "outcome": outcome}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry

    def entries(self, last: int | None = None) -> list[dict]:
        """Every entry, oldest first; only the `last` ones parsed where a page shows a few."""
        if not self.path.exists():
            return []
        with self._lock:
            lines = self.path.read_text("utf-8", errors="replace").splitlines()
        first = max(0, len(lines) - last) if last is not None else 0
        entries = []
        for number, line in enumerate(lines[first:], start=first + 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                # shown, not dropped: an audit log that was tampered with should say so
                entries.append({"time": None, "who": None, "action": "unreadable", "file": None,
                                "sha256": None, "outcome": f"{self.path}:{number}: not a JSON line"})
        return entries
