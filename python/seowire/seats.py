"""Seat reconciliation: what the identity provider says should have access, against the SCIM
users that exist, as a plan you can print, review and apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .exceptions import InvalidRequest, SeowireError

__all__ = ["SeatPlan", "plan", "apply"]

# Accepted column names for the desired users (a dict per user, or a DataFrame's columns).
_NAME_KEYS = ("userName", "user_name", "email", "mail")
_GIVEN_KEYS = ("given_name", "givenName", "first_name")
_FAMILY_KEYS = ("family_name", "familyName", "last_name")
_EXTERNAL_KEYS = ("external_id", "externalId")


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = d.get(k)
        if v is not None and v == v and v != "":  # skips None, NaN and blanks
            return v
    return None


def _records(desired: Any) -> list[dict[str, Any]]:
    if hasattr(desired, "to_dict") and hasattr(desired, "columns"):  # a pandas DataFrame
        return list(desired.to_dict("records"))
    if hasattr(desired, "to_dicts"):  # a polars DataFrame
        return list(desired.to_dicts())
    return [dict(d) for d in desired]


@dataclass
class SeatPlan:
    """What to change so the SCIM users match the desired users."""

    to_create: list[dict[str, Any]] = field(default_factory=list)
    to_update: list[dict[str, Any]] = field(default_factory=list)
    to_deactivate: list[dict[str, Any]] = field(default_factory=list)
    to_reactivate: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("to_create", "to_update", "to_deactivate", "to_reactivate", "unchanged")}

    def __repr__(self) -> str:
        return "SeatPlan(" + ", ".join(f"{k}={v}" for k, v in self.summary().items()) + ")"


def plan(desired: Iterable[dict[str, Any]] | Any, current: Iterable[dict[str, Any]]) -> SeatPlan:
    """Compare desired users (dicts or a DataFrame with an email/userName column, optional
    given_name, family_name, external_id) with the current SCIM users. Matching is
    case-insensitive on userName and email."""
    want: dict[str, dict[str, Any]] = {}
    for i, d in enumerate(_records(desired)):
        name = _first(d, _NAME_KEYS)
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest(f"desired user {i} has no email/userName", provider="ahrefs")
        key = name.strip().lower()
        want[key] = {"user_name": name.strip(), "given_name": _first(d, _GIVEN_KEYS),
                     "family_name": _first(d, _FAMILY_KEYS), "external_id": _first(d, _EXTERNAL_KEYS)}
    have: dict[str, dict[str, Any]] = {}
    for u in current:
        names = [u.get("userName")] + [e.get("value") for e in u.get("emails") or [] if isinstance(e, dict)]
        for n in names:
            if isinstance(n, str) and n:
                have.setdefault(n.strip().lower(), u)
    result = SeatPlan()
    matched: set[str] = set()
    for key, w in want.items():
        found = have.get(key)
        if found is None:
            result.to_create.append(w)
            continue
        u = found
        matched.add(u["id"])
        changes = {}
        name = u.get("name") or {}
        for attr, theirs in (("given_name", name.get("givenName")), ("family_name", name.get("familyName")),
                             ("external_id", u.get("externalId"))):
            if w[attr] is not None and w[attr] != theirs:
                changes[attr] = w[attr]
        entry = {"id": u["id"], "user_name": u.get("userName"), "changes": changes}
        if u.get("active") is False:
            result.to_reactivate.append(entry)
        elif changes:
            result.to_update.append(entry)
        else:
            result.unchanged.append(entry)
    seen: set[str] = set()
    for u in current:
        if u["id"] in matched or u["id"] in seen:
            continue
        seen.add(u["id"])
        if u.get("active", True) is not False:
            result.to_deactivate.append({"id": u["id"], "user_name": u.get("userName")})
    return result


def apply(client: Any, plan: SeatPlan, dry_run: bool = True, *, echo: Any = print) -> list[dict[str, Any]]:
    """Carry out a plan with an :class:`AhrefsScim` client (``dry_run=True`` only prints it).
    Returns one result per user: ``{"action", "user_name", "ok", "id", "error"}``; one failure
    does not stop the rest."""
    results: list[dict[str, Any]] = []

    def run(action: str, user_name: str, fn: Any) -> None:
        if dry_run:
            echo(f"would {action} {user_name}")
            results.append({"action": action, "user_name": user_name, "ok": None, "id": None, "error": None})
            return
        try:
            user = fn()
            results.append({"action": action, "user_name": user_name, "ok": True, "id": (user or {}).get("id"), "error": None})
        except SeowireError as e:
            results.append({"action": action, "user_name": user_name, "ok": False, "id": None, "error": str(e)})

    for w in plan.to_create:
        run("create", w["user_name"], lambda w=w: client.create_user(
            w["user_name"], given_name=w["given_name"], family_name=w["family_name"], external_id=w["external_id"]))
    for e in plan.to_reactivate:
        def reactivate(e: dict[str, Any] = e) -> Any:
            user = client.reactivate_user(e["id"])
            return client.update_user(e["id"], **e["changes"]) if e["changes"] else user
        run("reactivate", e["user_name"], reactivate)
    for e in plan.to_update:
        run("update", e["user_name"], lambda e=e: client.update_user(e["id"], **e["changes"]))
    for e in plan.to_deactivate:
        run("deactivate", e["user_name"], lambda e=e: client.deactivate_user(e["id"]))
    return results
