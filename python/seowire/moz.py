"""Moz Links API v2 client: all twelve endpoints, bulk url_metrics at the plan's concurrency,
rows as units."""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Iterable, Sequence

from . import _progress, _seowire, frames
from ._progress import ProgressArg
from .frames import Output
from .lifecycle import not_supported
from ._common import MAX_UNITS, Budget, Client, Pages, Rows, RowStream, cache_ttl, resolve_ledger, unsigned
from .exceptions import InvalidRequest

__all__ = ["Moz", "sign_v1", "PLANS"]

#: Concurrent requests per Moz plan (from Moz's plan table).
PLANS = {"free": 1, "trial": 1, "medium": 5, "large": 10, "premium": 25}

Scope = str  # "page" | "subdomain" | "root_domain"


def sign_v1(access_id: str, secret_key: str, expires: int) -> str:
    """The legacy Mozscape v1 ``Signature`` query value: URL-encoded base64 of
    HMAC-SHA1(secret_key, ``"{access_id}\\n{expires}"``). Only for v1 (``/linkscape``) calls:
    v2 endpoints take a token or Basic auth, and mixing the schemes fails silently."""
    if not access_id or not secret_key:
        raise InvalidRequest("sign_v1 needs an access ID and a secret key", provider="moz")
    if isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0:
        raise InvalidRequest("expires is a unix timestamp (int seconds)", provider="moz")
    return _seowire.moz_sign_v1(access_id, secret_key, expires)


def _date(name: str, value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        value = value.date()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def _unix(name: str, value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return int(value.timestamp())
    if isinstance(value, _dt.date):
        return int(_dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc).timestamp())
    return value


def _targets(targets: Iterable[str]) -> Any:
    """Targets as a list (so progress knows the total); a bare string is left for the core to refuse."""
    return targets if isinstance(targets, str) else list(targets)


def _unique(targets: Any) -> int | None:
    """How many distinct targets will be fetched (duplicates are fetched once)."""
    return None if isinstance(targets, str) else len({t.strip() for t in targets if isinstance(t, str)})


class Moz(Client):
    """A client for one Moz Links API v2 account.

    Auth is a token (``token=`` or ``MOZ_TOKEN``, sent as ``x-moz-token``) or, for accounts from
    before March 2024, Basic auth with ``access_id``/``secret_key`` (``MOZ_ACCESS_ID`` /
    ``MOZ_SECRET_KEY``). Requests in flight are capped by the plan (free/trial 1, medium 5,
    large 10, premium 25; default free) or ``concurrency=``. Units are rows: each call reserves
    its worst case (``limit`` x weight) in the ledger and commits the rows that came back.
    """

    provider = "moz"

    def __init__(
        self,
        token: str | None = None,
        *,
        access_id: str | None = None,
        secret_key: str | None = None,
        plan: str | None = None,
        concurrency: int | None = None,
        base_url: str | None = None,
        ledger: Any = None,
        budget: Budget | int | None = None,
        retry: Any = None,
        timeout: float = 60.0,
        modifier_weight: int | None = None,
        signing: str | None = None,
        cache: bool | float = True,
    ) -> None:
        if signing is not None:
            raise InvalidRequest(
                f"signing={signing!r}: seowire speaks Links API v2, whose auth is a token or Basic access ID/secret "
                "key. v1 signed queries (AccessID/Expires/Signature) only work on v1 /linkscape endpoints, and mixing "
                "the schemes fails silently; use seowire.moz.sign_v1() for your own v1 calls",
                provider="moz",
            )
        if token is None and access_id is None and secret_key is None:
            token = os.environ.get("MOZ_TOKEN") or None
            env_id, env_secret = os.environ.get("MOZ_ACCESS_ID") or None, os.environ.get("MOZ_SECRET_KEY") or None
            if token is None:
                access_id, secret_key = env_id, env_secret
            elif env_id or env_secret:
                raise InvalidRequest("MOZ_TOKEN and MOZ_ACCESS_ID/MOZ_SECRET_KEY are both set: keep one kind", provider="moz")
        if plan is not None and plan.lower() not in PLANS:
            raise InvalidRequest(f"unknown Moz plan {plan!r}: use one of {', '.join(PLANS)}", provider="moz")
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1):
            raise InvalidRequest(f"concurrency must be a positive int, not {concurrency!r}", provider="moz")
        self._plan = plan.lower() if plan else None
        self._budget = Budget.coerce(budget)
        self._core = _seowire.MozCore(
            token=token,
            access_id=access_id,
            secret_key=secret_key,
            base_url=base_url or os.environ.get("SEOWIRE_MOZ_URL") or None,
            ledger=resolve_ledger(ledger),
            budget=self._budget._spec() if self._budget else None,
            retry=retry,
            timeout=timeout,
            concurrency=concurrency or PLANS[self._plan or "free"],
            modifier_weight=modifier_weight,
            cache_ttl=cache_ttl(cache),
        )

    @property
    def concurrency(self) -> int:
        return self._core.concurrency

    @property
    def plan(self) -> str | None:
        return self._plan

    def __repr__(self) -> str:
        return f"Moz(account={self.account!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    # -- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def _fields(fields: dict[str, Any]) -> dict[str, Any]:
        for k in ("begin_date", "end_date"):
            if k in fields:
                fields[k] = _date(k, fields[k])
        for k in ("start", "end"):
            if k in fields:
                fields[k] = _unix(k, fields[k])
        return fields

    def call(self, endpoint: str, *, output: Output = "dicts", **fields: Any) -> Any:
        """Any endpoint by name with its request fields: ``call("links", target="moz.com")``.
        ``output="pandas"`` (or ``"arrow"``, ``"polars"``) returns a frame."""
        frames.check(output)
        value, meta = self._core.call(endpoint, **self._fields(fields))
        return self._settle(value, meta, output)

    async def call_async(self, endpoint: str, *, output: Output = "dicts", **fields: Any) -> Any:
        frames.check(output)
        value, meta = await self._core.call_async(endpoint, **self._fields(fields))
        return self._settle(value, meta, output)

    def estimate(self, endpoint: str, **fields: Any) -> int:
        """Worst-case rows of a call, offline. ``url_metrics`` takes any number of targets."""
        if endpoint == "url_metrics" and "targets" in fields:
            targets = fields.pop("targets")
            return self._core.estimate_url_metrics(targets, **self._fields(fields))
        return self._core.estimate(endpoint, **self._fields(fields))

    def pages(
        self,
        endpoint: str,
        *,
        page_size: int = 50,
        max_rows: int | None = None,
        output: Output = "dicts",
        progress: ProgressArg = None,
        **fields: Any,
    ) -> Pages:
        """Pages of a ``next_token`` endpoint (``for`` or ``async for``), each row once; each page
        a :class:`Rows`, or a frame with ``output=``."""
        frames.check(output)
        unsigned("page_size", page_size, 50, provider="moz")
        unsigned("max_rows", max_rows, MAX_UNITS, provider="moz", optional=True)
        return Pages(self._core.pages(endpoint, page_size, max_rows, **self._fields(fields)), self, output, progress, max_rows)

    def rows(self, endpoint: str, *, page_size: int = 50, max_rows: int | None = None, **fields: Any) -> RowStream:
        """Rows of a ``next_token`` endpoint across pages (``for`` or ``async for``)."""
        return RowStream(self.pages(endpoint, page_size=page_size, max_rows=max_rows, **fields))

    def provision_user(self, email: str) -> None:
        """Moz has no user API: raises :class:`NotSupported` with the manual path."""
        raise not_supported("moz", "provision")

    def deprovision_user(self, email: str) -> None:
        """Moz has no user API: raises :class:`NotSupported` with the manual path."""
        raise not_supported("moz", "deprovision")

    def _provider_reading(self) -> tuple[str, str, str, int]:
        """For ``Ledger.sync``: rows Moz counts as consumed this month."""
        return ("moz", self.account, "spent", int(self.usage_data()["rows_consumed"]))

    # -- url_metrics (bulk) ---------------------------------------------------------------------

    def url_metrics(
        self,
        targets: Iterable[str],
        *,
        daily_history_deltas: Sequence[str] | None = None,
        daily_history_values: Sequence[str] | None = None,
        monthly_history_deltas: Sequence[str] | None = None,
        monthly_history_values: Sequence[str] | None = None,
        distributions: bool | None = None,
        cache: bool = True,
        output: Output = "dicts",
        progress: ProgressArg = None,
    ) -> Rows:
        """Metrics for any number of URLs or domains (list, tuple, pandas Series...): one dict
        per input target, in input order. Duplicates are fetched once; requests of 50 run at the
        plan's concurrency. A chunk that fails after retries raises with the index range it covered."""
        frames.check(output)
        targets = _targets(targets)
        tracker = _progress.start(progress, _unique(targets), "moz url_metrics")
        try:
            value, meta = self._core.url_metrics(
                targets,
                progress=tracker,
                daily_history_deltas=daily_history_deltas,
                daily_history_values=daily_history_values,
                monthly_history_deltas=monthly_history_deltas,
                monthly_history_values=monthly_history_values,
                distributions=distributions,
                cache=cache,
            )
        finally:
            tracker.close()
        return self._settle(value, meta, output)

    async def url_metrics_async(
        self,
        targets: Iterable[str],
        *,
        daily_history_deltas: Sequence[str] | None = None,
        daily_history_values: Sequence[str] | None = None,
        monthly_history_deltas: Sequence[str] | None = None,
        monthly_history_values: Sequence[str] | None = None,
        distributions: bool | None = None,
        cache: bool = True,
        output: Output = "dicts",
        progress: ProgressArg = None,
    ) -> Rows:
        frames.check(output)
        targets = _targets(targets)
        tracker = _progress.start(progress, _unique(targets), "moz url_metrics")
        try:
            value, meta = await self._core.url_metrics_async(
                targets,
                progress=tracker,
                daily_history_deltas=daily_history_deltas,
                daily_history_values=daily_history_values,
                monthly_history_deltas=monthly_history_deltas,
                monthly_history_values=monthly_history_values,
                distributions=distributions,
                cache=cache,
            )
        finally:
            tracker.close()
        return self._settle(value, meta, output)

    # -- link endpoints -------------------------------------------------------------------------

    def links(
        self,
        target: str,
        *,
        target_scope: Scope | None = None,
        sort: str | None = None,
        filter: str | Sequence[str] | None = None,
        anchor_text: str | None = None,
        source_root_domain: str | None = None,
        source_scope: Scope | None = None,
        subdomains_limited_to_one: Sequence[str] | None = None,
        limit: int | None = None,
        next_token: str | None = None,
        output: Output = "dicts",
    ) -> Rows:
        """Links to a target; ``filter`` terms (e.g. ``["external", "nofollow"]``) are joined by ``+``."""
        return self.call("links", target=target, target_scope=target_scope, sort=sort, filter=filter, anchor_text=anchor_text,
                         source_root_domain=source_root_domain, source_scope=source_scope,
                         subdomains_limited_to_one=subdomains_limited_to_one, limit=limit, next_token=next_token, output=output)

    async def links_async(
        self,
        target: str,
        *,
        target_scope: Scope | None = None,
        sort: str | None = None,
        filter: str | Sequence[str] | None = None,
        anchor_text: str | None = None,
        source_root_domain: str | None = None,
        source_scope: Scope | None = None,
        subdomains_limited_to_one: Sequence[str] | None = None,
        limit: int | None = None,
        next_token: str | None = None,
        output: Output = "dicts",
    ) -> Rows:
        return await self.call_async("links", target=target, target_scope=target_scope, sort=sort, filter=filter,
                                     anchor_text=anchor_text, source_root_domain=source_root_domain, source_scope=source_scope,
                                     subdomains_limited_to_one=subdomains_limited_to_one, limit=limit, next_token=next_token, output=output)

    def anchor_text(self, target: str, *, scope: Scope | None = None, limit: int | None = None, next_token: str | None = None, output: Output = "dicts") -> Rows:
        """Anchor texts of links to a target, by external root domains."""
        return self.call("anchor_text", target=target, scope=scope, limit=limit, next_token=next_token, output=output)

    async def anchor_text_async(self, target: str, *, scope: Scope | None = None, limit: int | None = None, next_token: str | None = None, output: Output = "dicts") -> Rows:
        return await self.call_async("anchor_text", target=target, scope=scope, limit=limit, next_token=next_token, output=output)

    def final_redirect(self, page: str) -> dict[str, Any]:
        """Where a page finally redirects to: ``{"page": ...}`` (1 row)."""
        return self.call("final_redirect", page=page)

    async def final_redirect_async(self, page: str) -> dict[str, Any]:
        return await self.call_async("final_redirect", page=page)

    def global_top_pages(self, *, limit: int | None = None, next_token: str | None = None, output: Output = "dicts") -> Rows:
        """The top 500 pages by Page Authority."""
        return self.call("global_top_pages", limit=limit, next_token=next_token, output=output)

    async def global_top_pages_async(self, *, limit: int | None = None, next_token: str | None = None, output: Output = "dicts") -> Rows:
        return await self.call_async("global_top_pages", limit=limit, next_token=next_token, output=output)

    def global_top_root_domains(self, *, limit: int | None = None, next_token: str | None = None, output: Output = "dicts") -> Rows:
        """The top 500 root domains by Domain Authority."""
        return self.call("global_top_root_domains", limit=limit, next_token=next_token, output=output)

    async def global_top_root_domains_async(self, *, limit: int | None = None, next_token: str | None = None, output: Output = "dicts") -> Rows:
        return await self.call_async("global_top_root_domains", limit=limit, next_token=next_token, output=output)

    def index_metadata(self) -> dict[str, Any]:
        """The index ID and spam-score update days (free)."""
        return self.call("index_metadata")

    async def index_metadata_async(self) -> dict[str, Any]:
        return await self.call_async("index_metadata")

    def link_intersect(
        self,
        positive_targets: Sequence[str | dict[str, str]],
        *,
        negative_targets: Sequence[str | dict[str, str]] | None = None,
        source_scope: Scope | None = None,
        sort: str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
        output: Output = "dicts",
    ) -> Rows:
        """Sources linking to the positive targets but not the negative ones (5 rows per result).
        Targets are ``{"target", "scope"}`` dicts or plain strings (scope root_domain)."""
        return self.call("link_intersect", positive_targets=positive_targets, negative_targets=negative_targets,
                         source_scope=source_scope, sort=sort, limit=limit, next_token=next_token, output=output)

    async def link_intersect_async(
        self,
        positive_targets: Sequence[str | dict[str, str]],
        *,
        negative_targets: Sequence[str | dict[str, str]] | None = None,
        source_scope: Scope | None = None,
        sort: str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
        output: Output = "dicts",
    ) -> Rows:
        return await self.call_async("link_intersect", positive_targets=positive_targets, negative_targets=negative_targets,
                                     source_scope=source_scope, sort=sort, limit=limit, next_token=next_token, output=output)

    def link_status(self, target: str, sources: Sequence[str], *, source_scope: Scope | None = None, target_scope: Scope | None = None) -> dict[str, Any]:
        """Whether each source links to the target: ``{"exists": [bool, ...]}`` (2 rows per source)."""
        return self.call("link_status", target=target, sources=sources, source_scope=source_scope, target_scope=target_scope)

    async def link_status_async(self, target: str, sources: Sequence[str], *, source_scope: Scope | None = None, target_scope: Scope | None = None) -> dict[str, Any]:
        return await self.call_async("link_status", target=target, sources=sources, source_scope=source_scope, target_scope=target_scope)

    def linking_root_domains(
        self,
        target: str,
        *,
        target_scope: Scope | None = None,
        sort: str | None = None,
        filter: str | Sequence[str] | None = None,
        begin_date: str | _dt.date | None = None,
        end_date: str | _dt.date | None = None,
        limit: int | None = None,
        next_token: str | None = None,
        output: Output = "dicts",
    ) -> Rows:
        """Root domains linking to a target."""
        return self.call("linking_root_domains", target=target, target_scope=target_scope, sort=sort, filter=filter,
                         begin_date=begin_date, end_date=end_date, limit=limit, next_token=next_token, output=output)

    async def linking_root_domains_async(
        self,
        target: str,
        *,
        target_scope: Scope | None = None,
        sort: str | None = None,
        filter: str | Sequence[str] | None = None,
        begin_date: str | _dt.date | None = None,
        end_date: str | _dt.date | None = None,
        limit: int | None = None,
        next_token: str | None = None,
        output: Output = "dicts",
    ) -> Rows:
        return await self.call_async("linking_root_domains", target=target, target_scope=target_scope, sort=sort, filter=filter,
                                     begin_date=begin_date, end_date=end_date, limit=limit, next_token=next_token, output=output)

    def top_pages(self, target: str, *, scope: Scope | None = None, limit: int | None = None, next_token: str | None = None, output: Output = "dicts") -> Rows:
        """A site's top pages by Page Authority."""
        return self.call("top_pages", target=target, scope=scope, limit=limit, next_token=next_token, output=output)

    async def top_pages_async(self, target: str, *, scope: Scope | None = None, limit: int | None = None, next_token: str | None = None, output: Output = "dicts") -> Rows:
        return await self.call_async("top_pages", target=target, scope=scope, limit=limit, next_token=next_token, output=output)

    def usage_data(self, *, start: int | _dt.datetime | None = None, end: int | _dt.datetime | None = None) -> dict[str, Any]:
        """Rows consumed in the period (default: this month), as Moz counts them (free; may lag
        an hour; covers v1 and v2)."""
        return self.call("usage_data", start=start, end=end)

    async def usage_data_async(self, *, start: int | _dt.datetime | None = None, end: int | _dt.datetime | None = None) -> dict[str, Any]:
        return await self.call_async("usage_data", start=start, end=end)
