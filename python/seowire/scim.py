"""Ahrefs SCIM 2.0 provisioning (Enterprise; base URL and token come from Ahrefs support)."""

from __future__ import annotations

from typing import Any, Iterable

from . import _seowire
from .exceptions import ConflictError, InvalidRequest

__all__ = ["AhrefsScim", "USER_SCHEMA"]

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


def _user(user_name: str, given_name: str | None, family_name: str | None, emails: Iterable[str] | None,
          external_id: str | None, active: bool) -> dict[str, Any]:
    if not isinstance(user_name, str) or not user_name.strip():
        raise InvalidRequest("user_name (usually the email) is required", provider="ahrefs")
    user: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": user_name.strip(), "active": bool(active)}
    name = {k: v for k, v in (("givenName", given_name), ("familyName", family_name)) if v}
    if name:
        user["name"] = name
    mails = list(emails) if emails is not None else ([user_name.strip()] if "@" in user_name else [])
    if mails:
        user["emails"] = [{"value": m, "type": "work", "primary": i == 0} for i, m in enumerate(mails)]
    if external_id:
        user["externalId"] = external_id
    return user


_PATHS = {"given_name": "name.givenName", "family_name": "name.familyName", "external_id": "externalId",
          "user_name": "userName", "display_name": "displayName"}


def _replace(attributes: dict[str, Any]) -> list[tuple[str, Any]]:
    if not attributes:
        raise InvalidRequest("update_user needs at least one attribute", provider="ahrefs")
    ops = []
    for k, v in attributes.items():
        if k == "emails":
            v = [{"value": m, "type": "work", "primary": i == 0} if isinstance(m, str) else m for i, m in enumerate(v)]
        ops.append((_PATHS.get(k, k), v))
    return ops


class AhrefsScim:
    """A SCIM 2.0 client for Ahrefs user provisioning. Users are dicts in the SCIM core schema.

    Reads, PATCH and DELETE retry per the shared policy. A create is retried only when the
    connection failed before the request was sent; otherwise the user is looked up by userName
    before trying again, so a retry never creates a duplicate account. 409 on create raises
    :class:`ConflictError` with the existing user in ``.existing``.
    """

    provider = "ahrefs"

    def __init__(self, base_url: str, token: str, *, retry: Any = None, timeout: float = 60.0) -> None:
        self._core = _seowire.ScimCore(base_url, token, retry=retry, timeout=timeout)

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def __repr__(self) -> str:
        return f"AhrefsScim(base_url={self.base_url!r})"

    @staticmethod
    def _created(outcome: tuple[str, dict[str, Any] | None, str | None]) -> dict[str, Any]:
        what, user, message = outcome
        if what == "conflict" or user is None:
            err = ConflictError(message or "userName already exists", provider="ahrefs", status=409, code="uniqueness")
            err.existing = user
            raise err
        return user

    def list_users(self, filter: str | None = None) -> list[dict[str, Any]]:
        """Every user (or those matching a SCIM ``filter``), across all ListResponse pages."""
        return self._core.list_users(filter)

    async def list_users_async(self, filter: str | None = None) -> list[dict[str, Any]]:
        return await self._core.list_users_async(filter)

    def get_user(self, id: str) -> dict[str, Any]:
        return self._core.get_user(id)

    async def get_user_async(self, id: str) -> dict[str, Any]:
        return await self._core.get_user_async(id)

    def find_user(self, user_name: str) -> dict[str, Any] | None:
        """The user with this userName (filter ``userName eq "..."``, quotes escaped), or None."""
        return self._core.find_user(user_name)

    async def find_user_async(self, user_name: str) -> dict[str, Any] | None:
        return await self._core.find_user_async(user_name)

    def create_user(self, user_name: str, given_name: str | None = None, family_name: str | None = None,
                    emails: Iterable[str] | None = None, external_id: str | None = None, active: bool = True) -> dict[str, Any]:
        return self._created(self._core.create_user(_user(user_name, given_name, family_name, emails, external_id, active)))

    async def create_user_async(self, user_name: str, given_name: str | None = None, family_name: str | None = None,
                                emails: Iterable[str] | None = None, external_id: str | None = None, active: bool = True) -> dict[str, Any]:
        return self._created(await self._core.create_user_async(_user(user_name, given_name, family_name, emails, external_id, active)))

    def update_user(self, id: str, **attributes: Any) -> dict[str, Any]:
        """PATCH replace operations: ``update_user(id, given_name="Ada", external_id="e1")``."""
        return self._core.patch_user(id, _replace(attributes))

    async def update_user_async(self, id: str, **attributes: Any) -> dict[str, Any]:
        return await self._core.patch_user_async(id, _replace(attributes))

    def deactivate_user(self, id: str) -> dict[str, Any]:
        """PATCH ``active`` to false: the seat is freed, the account kept."""
        return self._core.patch_user(id, [("active", False)])

    async def deactivate_user_async(self, id: str) -> dict[str, Any]:
        return await self._core.patch_user_async(id, [("active", False)])

    def reactivate_user(self, id: str) -> dict[str, Any]:
        return self._core.patch_user(id, [("active", True)])

    async def reactivate_user_async(self, id: str) -> dict[str, Any]:
        return await self._core.patch_user_async(id, [("active", True)])

    def delete_user(self, id: str) -> None:
        self._core.delete_user(id)

    async def delete_user_async(self, id: str) -> None:
        await self._core.delete_user_async(id)
