"""API keys: created once and shown once; only their SHA-256 is stored, with a role.

Roles, each including the ones before it: `reader` asks; `editor` also adds and removes
documents; `admin` also reads the audit log. The keys file is JSON, written atomically under a
file lock, so `keys create` and a running server may use it at the same time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from .roles import ROLES, allows

KEY_PREFIX = "ak_"


class KeyStoreError(ValueError):
    """A keys file that cannot be used, or a key that does not exist."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    created: str
    sha256: str
    revoked: bool = False

    def allows(self, role: str) -> bool:
        return not self.revoked and allows(self.role, role)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=10)
        self._cached: tuple[tuple[int, int, int], list[ApiKey]] | None = None

    def create(self, role: str, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key of `role`; returns its record and the secret, which is never stored."""
        if role not in ROLES:
            raise KeyStoreError(f"unknown role {role!r} (use {', '.join(ROLES)})")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = secrets.token_hex(4)
        record = ApiKey(id=key_id, name=(name or key_id).strip()[:80] or key_id, role=role,
                        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        sha256=_digest(secret))
        with self._lock:
            keys = self._read()
            keys.append(record)
            self._write(keys)
        return record, secret

    def list(self) -> list[ApiKey]:
        with self._lock:
            return self._read()

    def revoke(self, id_or_name: str) -> ApiKey:
        with self._lock:
            keys = self._read()
            matches = [k for k in keys if id_or_name in (k.id, k.name) and not k.revoked]
            if len(matches) != 1:
                raise KeyStoreError(f"{'no' if not matches else 'more than one'} active key "
                                    f"with id or name {id_or_name!r}")
            revoked = ApiKey(**{**asdict(matches[0]), "revoked": True})
            self._write([revoked if k is matches[0] else k for k in keys])
        return revoked

    def verify(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or None."""
        if not secret.startswith(KEY_PREFIX):
            return None
        digest = _digest(secret)
        found = None
        for key in self._current():
            if hmac.compare_digest(key.sha256, digest) and not key.revoked:
                found = key
        return found

    def _current(self) -> list[ApiKey]:
        """The keys as the file holds them now, parsed again only when the file has changed (a
        revocation by `keys revoke` in another process counts at the next request)."""
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            return []
        if self._cached is None or self._cached[0] != stamp:
            self._cached = (stamp, self.list())
        return self._cached[1]

    def _read(self) -> list[ApiKey]:
        if not self.path.exists():
            return []
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            return [ApiKey(**entry) for entry in raw["keys"]]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise KeyStoreError(f"{self.path}: not a readable keys file ({exc})") from exc

    def _write(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"keys": [asdict(k) for k in keys]}, indent=2), "utf-8")
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)
