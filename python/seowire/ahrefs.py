"""Ahrefs API v3 client: every path through get()/post(), named methods for the everyday
reports, the field-cost unit model, and the Ahrefs Connect OAuth helper."""

from __future__ import annotations

import datetime as _dt
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from . import _progress, _seowire, frames
from . import catalog as _catalog
from ._ahrefs_reports import AhrefsReports
from ._progress import ProgressArg
from .frames import Output
from .lifecycle import not_supported
from ._common import Batches, Budget, Client, Rows, cache_ttl, resolve_ledger
from .exceptions import AuthenticationError, InvalidRequest

__all__ = ["Ahrefs", "AhrefsConnect", "Authorization", "AccessToken", "MONEY_FIELDS", "FREE_TARGETS"]

#: Fields that hold money, in USD cents as the API sends them.
MONEY_FIELDS = ("org_cost", "paid_cost", "value", "traffic_value", "cpc", "sum_value")
#: Free test targets (Site Explorer) by default; ``Ahrefs(free_targets=...)`` changes them.
FREE_TARGETS = ("ahrefs.com", "yep.com", "firehose.com")


def _norm(params: dict[str, Any]) -> dict[str, Any]:
    for k, v in list(params.items()):
        if isinstance(v, _dt.datetime):
            params[k] = v.date().isoformat()
        elif isinstance(v, _dt.date):
            params[k] = v.isoformat()
    return params


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be True or False, not {value!r}", provider="ahrefs")
    return value


def _types(output: str, method: str, path: str) -> dict[str, str] | None:
    """The catalog's column types, for frames only (dicts need none)."""
    return _catalog.field_types(method, path.strip("/")) if output != "dicts" else None


def _frame(output: str, method: str, path: str, params: dict[str, Any]) -> tuple[list[str] | None, dict[str, str] | None] | None:
    """What the core needs to read an answer as a frame (the selected fields first, the
    catalog's types), or None for dicts."""
    if not frames.check(output):
        return None
    return _select(params), _types(output, method, path)


def _select(params: dict[str, Any]) -> list[str] | None:
    """The selected fields: the columns of a frame even when no row comes back."""
    select = params.get("select")
    if isinstance(select, str):
        return [f.strip() for f in select.split(",") if f.strip()]
    return [str(f) for f in select] if isinstance(select, (list, tuple)) else None


class Ahrefs(Client, AhrefsReports):
    """A client for one Ahrefs API v3 key (``api_key=`` or ``AHREFS_API_KEY``), sent only as a
    Bearer header.

    Each call reserves its worst case, ``max(50, per-row field cost x limit)``, in the ledger
    and commits what Ahrefs says it charged (``x-api-units-cost-total-actual``, else the model
    applied to ``x-api-rows``); cache hits, free endpoint families and free test targets cost 0.
    Requests are paced to ``rate_limit`` per minute per key (Ahrefs allows 60).

    Every operation of the v3 spec has a method (``all_backlinks``, ``gsc_keywords``,
    ``post_management_projects``, ...; see ``seowire endpoints ahrefs``), generated from the
    catalog with the spec's parameters; ``get``/``post``/``put``/``patch``/``delete`` reach any
    path. ``plan=`` ("lite", "standard", "advanced", "enterprise") refuses a ``limit`` over the
    plan's rows per request; ``strict=False`` sends parameters the catalog does not know.
    """

    _STREAMS = ("batch_analysis",)

    provider = "ahrefs"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        ledger: Any = None,
        budget: Budget | int | None = None,
        retry: Any = None,
        timeout: float = 60.0,
        rate_limit: float | None = 60.0,
        free_targets: Iterable[str] | None = None,
        free_keywords: Iterable[str] | None = None,
        scim: Any = None,
        cache: bool | float = True,
        plan: str | None = None,
        tag: str | None = None,
        strict: bool = True,
    ) -> None:
        self._scim = scim
        self._strict = _flag("strict", strict)
        if plan is not None and not isinstance(plan, str):
            raise InvalidRequest(f"plan must be a plan name such as 'lite', not {plan!r}", provider="ahrefs")
        key = api_key if api_key is not None else os.environ.get("AHREFS_API_KEY", "")
        if not key:
            raise AuthenticationError("no Ahrefs API key: pass api_key= or set AHREFS_API_KEY", provider="ahrefs")
        self._budget = Budget.coerce(budget)
        self._core = _seowire.AhrefsCore(
            key,
            base_url=base_url or os.environ.get("SEOWIRE_AHREFS_URL") or None,
            ledger=resolve_ledger(ledger),
            budget=self._budget._spec() if self._budget else None,
            retry=retry,
            timeout=timeout,
            rate_per_minute=rate_limit,
            free_targets=list(free_targets) if free_targets is not None else None,
            free_keywords=list(free_keywords) if free_keywords is not None else None,
            cache_ttl=cache_ttl(cache),
            plan=plan,
        )
        self.tag = tag

    @property
    def plan_rows(self) -> int | None:
        """Rows per request the client's ``plan=`` allows (Lite 100, Standard 250, Advanced 500), or None."""
        return self._core.plan_rows

    # -- plumbing -------------------------------------------------------------------------------

    def _named(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params)

    async def _named_async(self, path: str, **params: Any) -> Any:
        return await self._call_async("GET", path, params)

    def _call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        output = params.pop("output", "dicts")
        frame = _frame(output, method, path, params)
        strict = _flag("strict", params.pop("strict", self._strict))
        value, meta = self._core.call(method, path, strict, frame, **_norm(params))
        return self._settle(value, meta, output)

    async def _call_async(self, method: str, path: str, params: dict[str, Any]) -> Any:
        output = params.pop("output", "dicts")
        frame = _frame(output, method, path, params)
        strict = _flag("strict", params.pop("strict", self._strict))
        value, meta = await self._core.call_async(method, path, strict, frame, **_norm(params))
        return self._settle(value, meta, output)

    # -- generic --------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        """Any v3 GET operation, e.g. ``get("site-explorer/pages-by-traffic", target=..., select=[...])``.
        ``select`` is a list, ``where`` a dict, ``order_by`` a string or list. Parameters and
        fields are checked against the catalog (the v3 spec) before anything is sent;
        ``strict=False`` (here or on the client) sends what the catalog does not know. The single
        top-level key of the answer is unwrapped. ``output="pandas"`` (or ``"arrow"``,
        ``"polars"``) returns a frame."""
        return self._call("GET", path, params)

    async def get_async(self, path: str, **params: Any) -> Any:
        return await self._call_async("GET", path, params)

    def post(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        """Any v3 POST operation with a JSON body (checked against the spec's body)."""
        return self._call("POST", path, {"json": json or {}, **params})

    async def post_async(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        return await self._call_async("POST", path, {"json": json or {}, **params})

    def put(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        """Any v3 PUT operation with a JSON body (management writes)."""
        return self._call("PUT", path, {"json": json or {}, **params})

    async def put_async(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        return await self._call_async("PUT", path, {"json": json or {}, **params})

    def patch(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        """Any v3 PATCH operation with a JSON body."""
        return self._call("PATCH", path, {"json": json or {}, **params})

    async def patch_async(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        return await self._call_async("PATCH", path, {"json": json or {}, **params})

    def delete(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        """Any v3 DELETE operation (a JSON body where the spec has one)."""
        extra = {"json": json} if json is not None else {}
        return self._call("DELETE", path, {**extra, **params})

    async def delete_async(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        extra = {"json": json} if json is not None else {}
        return await self._call_async("DELETE", path, {**extra, **params})

    def estimate(self, path_or_method: str, **params: Any) -> int:
        """Worst-case units of a call, offline: ``estimate("all_backlinks", target=..., select=[...], limit=100)``.
        A path is a GET unless ``method=`` says otherwise; a method name knows its verb."""
        method, path = _operation(path_or_method, params.pop("method", "GET"))
        if path == "batch-analysis/batch-analysis" and "targets" in params:
            targets = list(params.pop("targets"))
            return sum(
                self._core.estimate("POST", path, True, targets=_batch_targets(targets[i : i + 100]), **_norm(dict(params)))
                for i in range(0, len(targets), 100)
            )
        if path == "batch-analysis/batch-analysis":
            method = "POST"
        return self._core.estimate(method, path, _flag("strict", params.pop("strict", self._strict)), **_norm(params))

    def url(self, path_or_method: str, **params: Any) -> str:
        """The request URL of a call (the key is never in it)."""
        method, path = _operation(path_or_method, params.pop("method", "GET"))
        return self._core.url(method, path, _flag("strict", params.pop("strict", self._strict)), **_norm(params))

    # -- batch analysis -------------------------------------------------------------------------

    def batch_analysis(
        self,
        targets: Iterable[str | dict[str, Any]],
        *,
        select: Sequence[str],
        output: Output = "dicts",
        progress: ProgressArg = None,
        stream: bool = False,
        batch_rows: int = 10_000,
        **params: Any,
    ) -> Any:
        """Metrics for any number of targets (URL strings or ``{url, mode, protocol}``): requests
        of 100, merged in input order. ``progress`` shows rows and units as requests land.
        ``stream=True`` returns :class:`~seowire.Batches` of ``batch_rows`` rows instead, reading
        the targets (any iterable) only as requests need them."""
        frames.check(output)
        if stream:
            return self._batch_stream(targets, select, output, progress, batch_rows, params)
        targets = list(targets)
        frame = _frame(output, "POST", "batch-analysis/batch-analysis", {"select": select})
        tracker = _progress.start(progress, len(targets), "ahrefs batch_analysis")
        try:
            value, meta = self._core.batch_analysis(targets, select=list(select), progress=tracker, _frame=frame, **_norm(params))
        finally:
            tracker.close()
        return self._settle(value, meta, output)

    async def batch_analysis_async(
        self,
        targets: Iterable[str | dict[str, Any]],
        *,
        select: Sequence[str],
        output: Output = "dicts",
        progress: ProgressArg = None,
        stream: bool = False,
        batch_rows: int = 10_000,
        **params: Any,
    ) -> Any:
        frames.check(output)
        if stream:
            return self._batch_stream(targets, select, output, progress, batch_rows, params)
        targets = list(targets)
        frame = _frame(output, "POST", "batch-analysis/batch-analysis", {"select": select})
        tracker = _progress.start(progress, len(targets), "ahrefs batch_analysis")
        try:
            value, meta = await self._core.batch_analysis_async(targets, select=list(select), progress=tracker, _frame=frame,
                                                                **_norm(params))
        finally:
            tracker.close()
        return self._settle(value, meta, output)

    def _batch_stream(self, targets: Any, select: Sequence[str], output: str, progress: ProgressArg, batch_rows: int,
                      params: dict[str, Any]) -> Batches:
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            raise InvalidRequest(f"batch_rows must be an int of at least 1, not {batch_rows!r}", provider="ahrefs")
        tracker = _progress.start(progress, len(targets) if hasattr(targets, "__len__") else None, "ahrefs batch_analysis")
        types = _types(output, "POST", "batch-analysis/batch-analysis")
        core = self._core.batch_analysis_stream(targets, batch_rows=batch_rows, frame=output != "dicts", names=list(select),
                                                types=types, progress=tracker, select=list(select), **_norm(params))
        return Batches(core, output, tracker)

    # -- subscription ---------------------------------------------------------------------------

    def key_budget(self, *, period: str = "month") -> Budget | None:
        """A Budget from this key's unit cap (``units_limit_api_key``), or None when uncapped."""
        limits = self.limits_and_usage()
        cap = limits.get("units_limit_api_key")
        return Budget(int(cap), period=period) if cap is not None else None

    @property
    def scim(self) -> Any:
        """The :class:`AhrefsScim` client used for user lifecycle, if configured."""
        return self._scim

    def provision_user(self, email: str, *, given_name: str | None = None, family_name: str | None = None) -> dict[str, Any]:
        """Give ``email`` a seat through SCIM: create the user, or reactivate a deactivated one.
        Without ``scim=`` raises :class:`NotSupported` with how to get SCIM."""
        if self._scim is None:
            raise not_supported("ahrefs", "provision")
        user = self._scim.find_user(email)
        if user is None:
            return self._scim.create_user(email, given_name=given_name, family_name=family_name)
        return self._scim.reactivate_user(user["id"]) if user.get("active") is False else user

    def deprovision_user(self, email: str) -> dict[str, Any] | None:
        """Free ``email``'s seat through SCIM (deactivate; the account is kept). None if no such user."""
        if self._scim is None:
            raise not_supported("ahrefs", "deprovision")
        user = self._scim.find_user(email)
        return None if user is None else self._scim.deactivate_user(user["id"])

    def _provider_reading(self) -> tuple[str, str, str, int]:
        """For ``Ledger.sync``: units Ahrefs counts as used by this key."""
        return ("ahrefs", self.account, "spent", int(self.limits_and_usage().get("units_usage_api_key") or 0))


_NAMES: dict[str, tuple[str, str]] = {}


def _operation(path_or_method: str, method: str) -> tuple[str, str]:
    """(HTTP method, path) of a method name (it knows its verb) or of a path with ``method``.
    The catalog is read on first use, not at import."""
    if not _NAMES:
        _NAMES.update({op["name"]: (op["method"], op["path"]) for op in _catalog.endpoints("ahrefs")})
    return _NAMES.get(path_or_method, (method, path_or_method))


def _batch_targets(targets: list[Any]) -> list[Any]:
    return [{"url": t, "mode": "subdomains", "protocol": "both"} if isinstance(t, str) else t for t in targets]



# -- Ahrefs Connect (OAuth 2.0 authorization code + PKCE S256) ----------------------------------


@dataclass(frozen=True)
class Authorization:
    """One authorization attempt: send the user to ``url``; keep the rest for :meth:`AhrefsConnect.exchange`."""

    url: str
    state: str
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class AccessToken:
    """An Ahrefs Connect access token (a secret: never shown in repr). It lives one year and
    there is no refresh token; after that the user authorises again."""

    access_token: str = field(repr=False)
    token_type: str = "bearer"
    scope: str | None = None
    expires_at: float | None = None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at


class AhrefsConnect:
    """The Ahrefs Connect OAuth flow for partner apps: build the authorization URL with a PKCE
    S256 challenge and a ``state``, check the ``state`` that comes back, exchange the code for an
    access token, and use it as the Bearer credential of an :class:`Ahrefs` client.

    The token endpoint is configurable because the reference has it only from a third-party
    summary (``https://ahrefs.com/oauth/token``). ``client_secret`` is for web apps; desktop
    apps omit it.
    """

    AUTHORIZE_URL = "https://app.ahrefs.com/web/oauth/authorize"
    TOKEN_URL = "https://ahrefs.com/oauth/token"

    def __init__(
        self,
        client_id: str,
        redirect_uri: str,
        *,
        client_secret: str | None = None,
        scope: str = "apiv3-integration-apps",
        authorize_url: str | None = None,
        token_url: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not client_id or not redirect_uri:
            raise InvalidRequest("AhrefsConnect needs a client_id and a redirect_uri", provider="ahrefs")
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self._client_secret = client_secret
        self.scope = scope
        self.authorize_url = authorize_url or self.AUTHORIZE_URL
        self.token_url = token_url or self.TOKEN_URL
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AhrefsConnect(client_id={self.client_id!r}, redirect_uri={self.redirect_uri!r})"

    def authorization(self, *, state: str | None = None, code_verifier: str | None = None) -> Authorization:
        """A fresh authorization URL with its own ``state`` and PKCE verifier."""
        if code_verifier is None:
            code_verifier, challenge = _seowire.oauth_pkce()
        else:
            challenge = _seowire.oauth_challenge(code_verifier)
        state = state or _seowire.oauth_state()
        query = _seowire.oauth_authorize_query([
            ("response_type", "code"), ("client_id", self.client_id), ("scope", self.scope),
            ("redirect_uri", self.redirect_uri), ("code_challenge", challenge),
            ("code_challenge_method", "s256"), ("state", state),
        ])
        sep = "&" if "?" in self.authorize_url else "?"
        return Authorization(f"{self.authorize_url}{sep}{query}", state, code_verifier)

    def _form(self, callback: str | None, code: str | None, state: str | None, authorization: Authorization) -> list[tuple[str, str]]:
        if callback is not None:
            params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
            if "error" in params:
                raise AuthenticationError(f"authorization refused: {params['error']}", provider="ahrefs")
            code, state = params.get("code"), params.get("state")
        if not code:
            raise InvalidRequest("no authorization code", provider="ahrefs")
        if state != authorization.state:
            raise AuthenticationError("the state returned does not match the one sent: possible CSRF, not exchanging the code", provider="ahrefs")
        form = [("grant_type", "authorization_code"), ("code", code), ("client_id", self.client_id),
                ("redirect_uri", self.redirect_uri), ("code_verifier", authorization.code_verifier)]
        if self._client_secret:
            form.append(("client_secret", self._client_secret))
        return form

    @staticmethod
    def _token(answer: Any) -> AccessToken:
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise AuthenticationError("the token endpoint answered without an access_token", provider="ahrefs")
        expires = answer.get("expires_in")
        return AccessToken(answer["access_token"], str(answer.get("token_type", "bearer")), answer.get("scope"),
                           time.time() + float(expires) if expires else None)

    def exchange(self, callback: str | None = None, *, authorization: Authorization, code: str | None = None, state: str | None = None) -> AccessToken:
        """Exchange the code for a token. Pass the full ``callback`` URL the browser came back
        to, or ``code`` and ``state``; the state must match ``authorization.state``."""
        form = self._form(callback, code, state, authorization)
        return self._token(_seowire.oauth_exchange(self.token_url, form, self.timeout))

    async def exchange_async(self, callback: str | None = None, *, authorization: Authorization, code: str | None = None, state: str | None = None) -> AccessToken:
        form = self._form(callback, code, state, authorization)
        return self._token(await _seowire.oauth_exchange_async(self.token_url, form, self.timeout))

    @staticmethod
    def client(token: AccessToken, **options: Any) -> Ahrefs:
        """An :class:`Ahrefs` client using the access token as its Bearer credential."""
        if token.expired:
            raise AuthenticationError("the Ahrefs Connect token has expired: authorise again", provider="ahrefs")
        return Ahrefs(token.access_token, **options)
