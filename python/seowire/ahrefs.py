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
from ._progress import ProgressArg
from .frames import Output
from .lifecycle import not_supported
from ._common import Budget, Client, Rows, cache_ttl, resolve_ledger
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


def _select(params: dict[str, Any]) -> list[str] | None:
    """The selected fields: the columns of a frame even when no row comes back."""
    select = params.get("select")
    if isinstance(select, str):
        return [f.strip() for f in select.split(",") if f.strip()]
    return [str(f) for f in select] if isinstance(select, (list, tuple)) else None


class Ahrefs(Client):
    """A client for one Ahrefs API v3 key (``api_key=`` or ``AHREFS_API_KEY``), sent only as a
    Bearer header.

    Each call reserves its worst case, ``max(50, per-row field cost x limit)``, in the ledger
    and commits what Ahrefs says it charged (``x-api-units-cost-total-actual``, else the model
    applied to ``x-api-rows``); cache hits, free endpoint families and free test targets cost 0.
    Requests are paced to ``rate_limit`` per minute per key (Ahrefs allows 60).
    """

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
    ) -> None:
        self._scim = scim
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
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _named(self, path: str, **params: Any) -> Any:
        return self._call(path, True, params)

    async def _named_async(self, path: str, **params: Any) -> Any:
        return await self._call_async(path, True, params)

    def _call(self, path: str, strict: bool, params: dict[str, Any]) -> Any:
        output = params.pop("output", "dicts")
        frames.check(output)
        value, meta = self._core.call(path, strict, **_norm(params))
        return self._settle(value, meta, output, _select(params))

    async def _call_async(self, path: str, strict: bool, params: dict[str, Any]) -> Any:
        output = params.pop("output", "dicts")
        frames.check(output)
        value, meta = await self._core.call_async(path, strict, **_norm(params))
        return self._settle(value, meta, output, _select(params))

    # -- generic --------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        """Any v3 GET path, e.g. ``get("site-explorer/pages-by-traffic", target=..., select=[...])``.
        ``select`` is a list, ``where`` a dict, ``order_by`` a string or list. The single
        top-level key of the answer is unwrapped. ``output="pandas"`` (or ``"arrow"``,
        ``"polars"``) returns a frame."""
        return self._call(path, False, params)

    async def get_async(self, path: str, **params: Any) -> Any:
        return await self._call_async(path, False, params)

    def post(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        """Any v3 POST path with a JSON body."""
        return self._call(path, False, {"json": json or {}, **params})

    async def post_async(self, path: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        return await self._call_async(path, False, {"json": json or {}, **params})

    def estimate(self, path_or_method: str, **params: Any) -> int:
        """Worst-case units of a call, offline: ``estimate("all_backlinks", target=..., select=[...], limit=100)``."""
        path = _PATHS.get(path_or_method, path_or_method)
        if path == "batch-analysis/batch-analysis" and "targets" in params:
            targets = list(params.pop("targets"))
            return sum(
                self._core.estimate(path, True, targets=_batch_targets(targets[i : i + 100]), **_norm(dict(params)))
                for i in range(0, len(targets), 100)
            )
        return self._core.estimate(path, path_or_method in _PATHS, **_norm(params))

    def url(self, path_or_method: str, **params: Any) -> str:
        """The request URL of a call (the key is never in it)."""
        path = _PATHS.get(path_or_method, path_or_method)
        return self._core.url(path, path_or_method in _PATHS, **_norm(params))

    # -- batch analysis -------------------------------------------------------------------------

    def batch_analysis(
        self,
        targets: Iterable[str | dict[str, Any]],
        *,
        select: Sequence[str],
        output: Output = "dicts",
        progress: ProgressArg = None,
        **params: Any,
    ) -> Rows:
        """Metrics for any number of targets (URL strings or ``{url, mode, protocol}``): requests
        of 100, merged in input order. ``progress`` shows rows and units as requests land."""
        frames.check(output)
        targets = list(targets)
        tracker = _progress.start(progress, len(targets), "ahrefs batch_analysis")
        try:
            value, meta = self._core.batch_analysis(targets, select=list(select), progress=tracker, **_norm(params))
        finally:
            tracker.close()
        return self._settle(value, meta, output, list(select))

    async def batch_analysis_async(
        self,
        targets: Iterable[str | dict[str, Any]],
        *,
        select: Sequence[str],
        output: Output = "dicts",
        progress: ProgressArg = None,
        **params: Any,
    ) -> Rows:
        frames.check(output)
        targets = list(targets)
        tracker = _progress.start(progress, len(targets), "ahrefs batch_analysis")
        try:
            value, meta = await self._core.batch_analysis_async(targets, select=list(select), progress=tracker, **_norm(params))
        finally:
            tracker.close()
        return self._settle(value, meta, output, list(select))

    # -- subscription ---------------------------------------------------------------------------

    def limits_and_usage(self) -> dict[str, Any]:
        """Units limits and usage of the workspace and this key (free)."""
        return self._named("subscription-info/limits-and-usage")

    async def limits_and_usage_async(self) -> dict[str, Any]:
        return await self._named_async("subscription-info/limits-and-usage")

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

    # -- named reports --------------------------------------------------------------------------

    def domain_rating(self, target: str, **params: Any) -> dict[str, Any]:
        """Domain Rating and Ahrefs Rank of a target on ``date`` (default today)."""
        return self._named("site-explorer/domain-rating", target=target, **params)

    async def domain_rating_async(self, target: str, **params: Any) -> dict[str, Any]:
        return await self._named_async("site-explorer/domain-rating", target=target, **params)

    def backlinks_stats(self, target: str, **params: Any) -> dict[str, Any]:
        """Live and all-time backlink and referring-domain counts."""
        return self._named("site-explorer/backlinks-stats", target=target, **params)

    async def backlinks_stats_async(self, target: str, **params: Any) -> dict[str, Any]:
        return await self._named_async("site-explorer/backlinks-stats", target=target, **params)

    def metrics(self, target: str, **params: Any) -> dict[str, Any]:
        """Organic and paid keywords, traffic and cost (USD cents)."""
        return self._named("site-explorer/metrics", target=target, **params)

    async def metrics_async(self, target: str, **params: Any) -> dict[str, Any]:
        return await self._named_async("site-explorer/metrics", target=target, **params)

    def all_backlinks(self, target: str, **params: Any) -> Rows:
        """Backlinks of a target; ``select`` is required."""
        return self._named("site-explorer/all-backlinks", target=target, **params)

    async def all_backlinks_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/all-backlinks", target=target, **params)

    def broken_backlinks(self, target: str, **params: Any) -> Rows:
        """Broken backlinks of a target."""
        return self._named("site-explorer/broken-backlinks", target=target, **params)

    async def broken_backlinks_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/broken-backlinks", target=target, **params)

    def refdomains(self, target: str, **params: Any) -> Rows:
        """Referring domains."""
        return self._named("site-explorer/refdomains", target=target, **params)

    async def refdomains_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/refdomains", target=target, **params)

    def anchors(self, target: str, **params: Any) -> Rows:
        """Anchor texts of backlinks."""
        return self._named("site-explorer/anchors", target=target, **params)

    async def anchors_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/anchors", target=target, **params)

    def linkeddomains(self, target: str, **params: Any) -> Rows:
        """Domains the target links to."""
        return self._named("site-explorer/linkeddomains", target=target, **params)

    async def linkeddomains_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/linkeddomains", target=target, **params)

    def organic_keywords(self, target: str, **params: Any) -> Rows:
        """Keywords the target ranks for (``date`` defaults to today)."""
        return self._named("site-explorer/organic-keywords", target=target, **params)

    async def organic_keywords_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/organic-keywords", target=target, **params)

    def organic_competitors(self, target: str, **params: Any) -> Rows:
        """Organic competitors."""
        return self._named("site-explorer/organic-competitors", target=target, **params)

    async def organic_competitors_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/organic-competitors", target=target, **params)

    def top_pages(self, target: str, **params: Any) -> Rows:
        """Top pages by organic traffic."""
        return self._named("site-explorer/top-pages", target=target, **params)

    async def top_pages_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/top-pages", target=target, **params)

    def domain_rating_history(self, target: str, **params: Any) -> Rows:
        """Domain Rating over time (``date_from`` required)."""
        return self._named("site-explorer/domain-rating-history", target=target, **params)

    async def domain_rating_history_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/domain-rating-history", target=target, **params)

    def metrics_history(self, target: str, **params: Any) -> Rows:
        """Organic/paid metrics over time (``date_from`` required)."""
        return self._named("site-explorer/metrics-history", target=target, **params)

    async def metrics_history_async(self, target: str, **params: Any) -> Rows:
        return await self._named_async("site-explorer/metrics-history", target=target, **params)

    def keywords_overview(self, keywords: str | Sequence[str], **params: Any) -> Rows:
        """Keywords Explorer overview for a list of keywords (``country`` required)."""
        return self._named("keywords-explorer/overview", keywords=keywords, **params)

    async def keywords_overview_async(self, keywords: str | Sequence[str], **params: Any) -> Rows:
        return await self._named_async("keywords-explorer/overview", keywords=keywords, **params)

    def matching_terms(self, keywords: str | Sequence[str], **params: Any) -> Rows:
        """Keyword ideas matching the seed keywords."""
        return self._named("keywords-explorer/matching-terms", keywords=keywords, **params)

    async def matching_terms_async(self, keywords: str | Sequence[str], **params: Any) -> Rows:
        return await self._named_async("keywords-explorer/matching-terms", keywords=keywords, **params)

    def related_terms(self, keywords: str | Sequence[str], **params: Any) -> Rows:
        """Related keyword ideas."""
        return self._named("keywords-explorer/related-terms", keywords=keywords, **params)

    async def related_terms_async(self, keywords: str | Sequence[str], **params: Any) -> Rows:
        return await self._named_async("keywords-explorer/related-terms", keywords=keywords, **params)

    def search_suggestions(self, keywords: str | Sequence[str], **params: Any) -> Rows:
        """Search suggestions for the seed keywords."""
        return self._named("keywords-explorer/search-suggestions", keywords=keywords, **params)

    async def search_suggestions_async(self, keywords: str | Sequence[str], **params: Any) -> Rows:
        return await self._named_async("keywords-explorer/search-suggestions", keywords=keywords, **params)

    def volume_history(self, keyword: str, **params: Any) -> Rows:
        """Search volume of one keyword over time."""
        return self._named("keywords-explorer/volume-history", keyword=keyword, **params)

    async def volume_history_async(self, keyword: str, **params: Any) -> Rows:
        return await self._named_async("keywords-explorer/volume-history", keyword=keyword, **params)

    def serp_overview(self, keyword: str, **params: Any) -> Rows:
        """The SERP of one keyword (``country`` required)."""
        return self._named("serp-overview/serp-overview", keyword=keyword, **params)

    async def serp_overview_async(self, keyword: str, **params: Any) -> Rows:
        return await self._named_async("serp-overview/serp-overview", keyword=keyword, **params)

    def site_audit_issues(self, project_id: int, **params: Any) -> Rows:
        """Site Audit issues of a project (50 units per request)."""
        return self._named("site-audit/issues", project_id=project_id, **params)

    async def site_audit_issues_async(self, project_id: int, **params: Any) -> Rows:
        return await self._named_async("site-audit/issues", project_id=project_id, **params)

    def page_explorer(self, project_id: int, **params: Any) -> Rows:
        """Site Audit pages of a project, with ``offset`` paging (50 units per request)."""
        return self._named("site-audit/page-explorer", project_id=project_id, **params)

    async def page_explorer_async(self, project_id: int, **params: Any) -> Rows:
        return await self._named_async("site-audit/page-explorer", project_id=project_id, **params)

    def rank_tracker_overview(self, project_id: int, **params: Any) -> Rows:
        """Rank Tracker overview of a project (free)."""
        return self._named("rank-tracker/overview", project_id=project_id, **params)

    async def rank_tracker_overview_async(self, project_id: int, **params: Any) -> Rows:
        return await self._named_async("rank-tracker/overview", project_id=project_id, **params)


_PATHS: dict[str, str] = {
    "domain_rating": "site-explorer/domain-rating",
    "backlinks_stats": "site-explorer/backlinks-stats",
    "metrics": "site-explorer/metrics",
    "all_backlinks": "site-explorer/all-backlinks",
    "broken_backlinks": "site-explorer/broken-backlinks",
    "refdomains": "site-explorer/refdomains",
    "anchors": "site-explorer/anchors",
    "linkeddomains": "site-explorer/linkeddomains",
    "organic_keywords": "site-explorer/organic-keywords",
    "organic_competitors": "site-explorer/organic-competitors",
    "top_pages": "site-explorer/top-pages",
    "domain_rating_history": "site-explorer/domain-rating-history",
    "metrics_history": "site-explorer/metrics-history",
    "keywords_overview": "keywords-explorer/overview",
    "matching_terms": "keywords-explorer/matching-terms",
    "related_terms": "keywords-explorer/related-terms",
    "search_suggestions": "keywords-explorer/search-suggestions",
    "volume_history": "keywords-explorer/volume-history",
    "serp_overview": "serp-overview/serp-overview",
    "site_audit_issues": "site-audit/issues",
    "page_explorer": "site-audit/page-explorer",
    "rank_tracker_overview": "rank-tracker/overview",
    "batch_analysis": "batch-analysis/batch-analysis",
    "limits_and_usage": "subscription-info/limits-and-usage",
}


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
