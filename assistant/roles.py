"""Roles, each including the ones before it: `reader` asks; `editor` also adds and removes
documents; `admin` also reads the audit log. A signed-in user's role comes from configuration,
by e-mail address or by a value of the group claim (Entra ID, Keycloak …)."""

from __future__ import annotations

from collections.abc import Mapping

from .config import Settings

ROLES = ("reader", "editor", "admin")


def allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def role_for(claims: Mapping[str, object], settings: Settings) -> str:
    """The role of a signed-in user: admin or editor when their e-mail address or one of their
    groups is listed for it (case-insensitive), otherwise reader."""
    groups = claims.get(settings.auth_group_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    names = {str(claims.get("email") or "").lower()} | {str(g).lower() for g in groups}
    names.discard("")
    if names & {a.lower() for a in settings.auth_admins}:
        return "admin"
    if names & {e.lower() for e in settings.auth_editors}:
        return "editor"
    return "reader"
