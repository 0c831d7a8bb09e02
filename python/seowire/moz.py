"""Moz client: the Moz API (JSON-RPC, every method of Moz's method schema, named methods for the 30
public data methods, rows per quota pool) and Links API v2 (all twelve endpoints, bulk
url_metrics), with one token, one ledger and the plan's concurrency."""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Iterable, Iterator, Sequence

from . import _progress, _seowire, frames
from ._moz_links import MozLinksMethods
from ._moz_methods import MozMethods
from ._progress import ProgressArg
from .frames import Output
from .lifecycle import not_supported
from ._common import MAX_UNITS, Batches, Budget, Client, Pages, Rows, RowStream, cache_ttl, resolve_ledger, settle, unsigned
from .exceptions import InvalidRequest

__all__ = ["Moz", "sign_v1", "PLANS"]

#: Concurrent requests per Moz plan (from Moz's plan table).
PLANS = {"free": 1, "trial": 1, "medium": 5, "large": 10, "premium": 25}

#: The Moz API's quota pools: rows are counted and budgeted per pool (Links v2 rows are mozscape).
POOLS = {"data": "api.limits.data.rows", "beta": "api.limits.beta.rows", "mozscape": "api.limits.mozscape.rows"}

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


_RPC_NAMES: set[str] = set()


def _is_rpc(name: str) -> bool:
    """Moz API methods are dotted (``data.site.metrics.fetch``) or named by their Python method
    (``keyword_metrics``); Links v2 endpoints are neither (their names do not overlap)."""
    if "." in name:
        return True
    if not _RPC_NAMES:
        from .catalog import endpoints

        _RPC_NAMES.update(o["name"] for o in endpoints("moz") if o.get("api") == "jsonrpc")
    return name in _RPC_NAMES


_DEFAULT_PAGE = 0  # "the method's own page size"


class _RpcSettler:
    """Settles pages of a Moz API method against its pool's budget. Frames come from the core
    (read from the answer's bytes, typed by the method schema: nested objects flattened into
    ``parent.child`` columns, counts as int64, dates as dates)."""

    def __init__(self, moz: Moz, method: str) -> None:
        self._moz, self._method, self.provider = moz, method, "moz"

    def _settle(self, value: Any, meta: dict[str, Any], output: str = "dicts") -> Any:
        budget = self._moz._pool_budget(self._method)
        if output != "dicts":
            settle(budget, self._moz.account, [], meta)
            return frames.convert(value, output, meta)
        return settle(budget, self._moz.account, value, meta)


def _links_frame(endpoint: str, output: str) -> tuple[list[str] | None, dict[str, str] | None] | None:
    """What the core needs to read a Links v2 answer as a frame (None: dicts)."""
    if not frames.check(output):
        return None
    from .catalog import links_columns

    return links_columns(endpoint)


def _pairs(pairs: Any, lazy: bool = False) -> Any:
    """``(target, source)`` tuples as Moz's query pairs; dicts pass as given. ``lazy``: a
    generator that reads the pairs only as they are asked for (streams)."""
    if isinstance(pairs, (str, bytes)):
        raise InvalidRequest("link_exists_multiple takes an iterable of (target, source) pairs", provider="moz")

    def each() -> Iterator[Any]:
        for i, p in enumerate(pairs):
            if isinstance(p, dict):
                yield p
            elif isinstance(p, (tuple, list)) and len(p) == 2:
                yield {"target_site_query": p[0], "source_site_query": p[1]}
            else:
                raise InvalidRequest(f"pair {i} must be a (target, source) tuple or a dict, not {p!r}", provider="moz")

    return each() if lazy else list(each())


def _bulk_columns(method: str) -> tuple[list[str], dict[str, str]]:
    """The columns of a bulk method's frame, one row per input in input order: the query as Moz
    echoed it (``query``, ``scope``; link status: ``target``, ``source`` and their scopes),
    then the site metrics or ``exists``, and ``error`` (the ItemError's text) where an item
    failed. The core reads the rows from the answers' bytes."""
    from .catalog import moz_columns

    if "link.status" in method:
        return (["target", "target_scope", "source", "source_scope", "exists", "error"],
                {"target": "string", "target_scope": "string", "source": "string", "source_scope": "string",
                 "exists": "boolean", "error": "string"})
    cols, col_types = moz_columns("data.site.metrics.fetch.multiple")
    metrics = [c.removeprefix("site_metrics.") for c in cols if c.startswith("site_metrics.")]
    types = {c.removeprefix("site_metrics."): t for c, t in col_types.items() if c.startswith("site_metrics.")}
    return ["query", "scope", *metrics, "error"], {**types, "query": "string", "scope": "string", "error": "string"}


class Moz(MozMethods, MozLinksMethods, Client):
    """A client for one Moz account: the Moz API (JSON-RPC) and Links API v2.

    The Moz API (``api_url=``, default ``https://api.moz.com/jsonrpc``, env
    ``SEOWIRE_MOZ_API_URL``) takes the token; ``call("data.site.metrics.fetch", site_query=...)``
    calls any method by its dotted name (the docs' hyphenated titles work too) and the named
    methods (``site_metrics``, ``keyword_metrics``, ``ranking_keywords``, ...) cover every public
    data method. A plain string where Moz wants a query object takes ``scope=`` (default
    ``"domain"``), ``locale=`` (``"en-US"``), ``device=`` and ``engine=`` from the client. Rows are
    counted per quota pool (``data``, ``beta``, ``mozscape``), each with its own ``budgets=``
    entry (``budget=`` caps each pool not named there). After ``breaker=`` answers ending in 4xx
    within 5 minutes (default 25; 0 turns it off), calls are refused for 30 s: Moz throttles an
    account past 50.

    Links API v2:

    Auth is a token (``token=`` or ``MOZ_TOKEN``, sent as ``x-moz-token``) or, for accounts from
    before March 2024, Basic auth with ``access_id``/``secret_key`` (``MOZ_ACCESS_ID`` /
    ``MOZ_SECRET_KEY``). Requests in flight are capped by the plan (free/trial 1, medium 5,
    large 10, premium 25; default free) or ``concurrency=``. Units are rows: each call reserves
    its worst case (``limit`` x weight) in the ledger and commits the rows that came back.
    """

    _STREAMS = ("url_metrics", "site_metrics_multiple", "link_exists_multiple")

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
        api_url: str | None = None,
        budgets: dict[str, Budget | int] | None = None,
        scope: str = "domain",
        locale: str = "en-US",
        device: str = "desktop",
        engine: str = "google",
        tag: str | None = None,
        breaker: int = 25,
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
        self._token = bool(token)
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
        if isinstance(breaker, bool) or not isinstance(breaker, int) or breaker < 0:
            raise InvalidRequest(f"breaker must be a number of 4xx answers (0: off), not {breaker!r}", provider="moz")
        pools = {pool: self._budget for pool in POOLS}
        for pool, b in (budgets or {}).items():
            if pool not in POOLS:
                raise InvalidRequest(f"unknown Moz quota pool {pool!r}: one of {', '.join(POOLS)}", provider="moz")
            pools[pool] = Budget.coerce(b)
        self._budgets = pools
        self._api = _seowire.MozApiCore(
            self._core,
            token=token,
            api_url=api_url or os.environ.get("SEOWIRE_MOZ_API_URL") or None,
            budgets={p: b._spec() for p, b in pools.items() if b is not None},
            retry=retry,
            timeout=timeout,
            cache_ttl=cache_ttl(cache),
            scope=scope,
            locale=locale,
            device=device,
            engine=engine,
            breaker=breaker,
        )
        self.tag = tag

    @property
    def concurrency(self) -> int:
        return self._core.concurrency

    @property
    def plan(self) -> str | None:
        return self._plan

    @property
    def api_url(self) -> str:
        return str(self._api.api_url)

    @property
    def accounts(self) -> dict[str, str]:
        """The ledger account of each quota pool."""
        return dict(self._api.accounts())

    def __repr__(self) -> str:
        return (f"Moz(account={self.account!r}, api_url={self.api_url!r}, base_url={self.base_url!r}, "
                f"concurrency={self.concurrency})")

    # -- the Moz API (JSON-RPC) -----------------------------------------------------------------

    @staticmethod
    def _data(data: Any, fields: dict[str, Any]) -> dict[str, Any]:
        if data is not None and not isinstance(data, dict):
            raise InvalidRequest(f"data must be a dict of the method's fields, not {type(data).__name__}", provider="moz")
        merged = dict(data or {})
        for k, v in fields.items():
            if k in ("cache", "strict"):
                merged["_" + k] = v
            elif v is not None:
                merged[k] = _date(k, v)
        for container in ("options",):
            inner = merged.get(container)
            if isinstance(inner, dict):
                merged[container] = {k: _date(k, v) for k, v in inner.items()}
        return merged

    def _pool_budget(self, method: str) -> Budget | None:
        _, pool, _, _ = self._api.describe(method)
        return self._budgets.get(pool)

    def _rpc_frame(self, method: str, output: str) -> tuple[list[str], dict[str, str]] | None:
        """The declared columns of a method's frame (None: dicts); a one-object method has no
        rows to frame, which is refused before anything is sent."""
        if not frames.check(output):
            return None
        name, _, _, rows_key = self._api.describe(method)
        if not rows_key:
            raise InvalidRequest(f"Moz {name} answers one object, not rows: call it without output=", provider="moz")
        from .catalog import moz_columns

        return moz_columns(name)

    def _rpc(self, method: str, data: dict[str, Any], output: Output = "dicts") -> Any:
        frame = self._rpc_frame(method, output)
        value, meta = self._api.call(method, data, frame is not None, frame=frame)
        return self._settle_rpc(method, value, meta, output)

    async def _rpc_async(self, method: str, data: dict[str, Any], output: Output = "dicts") -> Any:
        frame = self._rpc_frame(method, output)
        value, meta = await self._api.call_async(method, data, frame is not None, frame=frame)
        return self._settle_rpc(method, value, meta, output)

    def _settle_rpc(self, method: str, value: Any, meta: dict[str, Any], output: str) -> Any:
        budget = self._pool_budget(method)
        settle(budget, self.account, [], meta)
        if output != "dicts":
            return frames.convert(value, output, meta)
        return value

    def call(self, endpoint: str, data: dict[str, Any] | None = None, *, output: Output = "dicts", **fields: Any) -> Any:
        """Any Moz API method by its dotted name (``call("data.site.metrics.fetch", site_query="moz.com")``,
        or ``data={...}``): returns the ``result`` object, or with ``output=`` a frame of its rows.
        A name without dots is a Links v2 endpoint: ``call("links", target="moz.com")``."""
        if _is_rpc(endpoint):
            return self._rpc(endpoint, self._data(data, fields), output)
        if data is not None:
            raise InvalidRequest("data= is for Moz API methods (dotted names); Links v2 endpoints take keyword fields", provider="moz")
        value, meta = self._core.call(endpoint, _links_frame(endpoint, output), **self._fields(fields))
        return self._settle(value, meta, output)

    async def call_async(self, endpoint: str, data: dict[str, Any] | None = None, *, output: Output = "dicts", **fields: Any) -> Any:
        if _is_rpc(endpoint):
            return await self._rpc_async(endpoint, self._data(data, fields), output)
        if data is not None:
            raise InvalidRequest("data= is for Moz API methods (dotted names); Links v2 endpoints take keyword fields", provider="moz")
        value, meta = await self._core.call_async(endpoint, _links_frame(endpoint, output), **self._fields(fields))
        return self._settle(value, meta, output)

    def site_metrics_multiple(
        self,
        sites: Iterable[str | dict[str, Any]],
        *,
        chunk_size: int = 50,
        output: Output = "dicts",
        progress: ProgressArg = None,
        cache: bool | None = None,
        strict: bool | None = None,
        stream: bool = False,
        batch_rows: int = 10_000,
    ) -> Any:
        """Site metrics for any number of sites (strings take the client's scope, or
        ``{"query", "scope"}`` dicts): one ``{site_query, site_metrics}`` per input, in input
        order (Moz answers out of order; seowire matches each echo back). Duplicates are fetched
        once; chunks of ``chunk_size`` (Moz publishes no maximum) run at the plan's concurrency.
        A site Moz could not answer is an :class:`ItemError` in its place, never billed.
        Rows: 1 per site answered from the data pool. ``output=`` gives a frame of the metrics
        (``query``, ``scope``, the metrics, ``error``).

        ``stream=True`` returns :class:`~seowire.Batches` of ``batch_rows`` rows instead, reading
        the sites (any iterable, a generator too) only as requests need them: memory stays flat
        however many there are, and repeats are fetched once per request."""
        if stream:
            return self._multiple_stream("data.site.metrics.fetch.multiple", sites, chunk_size, output, progress, cache, strict, batch_rows)
        return self._multiple("data.site.metrics.fetch.multiple", sites, chunk_size, output, progress, cache, strict)

    async def site_metrics_multiple_async(
        self,
        sites: Iterable[str | dict[str, Any]],
        *,
        chunk_size: int = 50,
        output: Output = "dicts",
        progress: ProgressArg = None,
        cache: bool | None = None,
        strict: bool | None = None,
        stream: bool = False,
        batch_rows: int = 10_000,
    ) -> Any:
        if stream:
            return self._multiple_stream("data.site.metrics.fetch.multiple", sites, chunk_size, output, progress, cache, strict, batch_rows)
        return await self._multiple_async("data.site.metrics.fetch.multiple", sites, chunk_size, output, progress, cache, strict)

    def link_exists_multiple(
        self,
        pairs: Iterable[tuple[str | dict[str, Any], str | dict[str, Any]] | dict[str, Any]],
        *,
        chunk_size: int = 50,
        output: Output = "dicts",
        progress: ProgressArg = None,
        cache: bool | None = None,
        strict: bool | None = None,
        stream: bool = False,
        batch_rows: int = 10_000,
    ) -> Any:
        """Whether each source links to its target, for any number of ``(target, source)`` pairs
        (or ``{"target_site_query", "source_site_query"}`` dicts): one answer per pair, in input
        order, per-pair failures as :class:`ItemError` values. Rows: 1 per pair answered.
        ``stream=True`` returns :class:`~seowire.Batches`, as :meth:`site_metrics_multiple` does."""
        if stream:
            return self._multiple_stream("data.site.link.status.fetch.multiple", _pairs(pairs, lazy=True), chunk_size, output,
                                         progress, cache, strict, batch_rows)
        return self._multiple("data.site.link.status.fetch.multiple", _pairs(pairs), chunk_size, output, progress, cache, strict)

    async def link_exists_multiple_async(
        self,
        pairs: Iterable[tuple[str | dict[str, Any], str | dict[str, Any]] | dict[str, Any]],
        *,
        chunk_size: int = 50,
        output: Output = "dicts",
        progress: ProgressArg = None,
        cache: bool | None = None,
        strict: bool | None = None,
        stream: bool = False,
        batch_rows: int = 10_000,
    ) -> Any:
        if stream:
            return self._multiple_stream("data.site.link.status.fetch.multiple", _pairs(pairs, lazy=True), chunk_size, output,
                                         progress, cache, strict, batch_rows)
        return await self._multiple_async("data.site.link.status.fetch.multiple", _pairs(pairs), chunk_size, output, progress, cache, strict)

    def _multiple_stream(self, method: str, items: Any, chunk_size: int, output: str, progress: ProgressArg,
                         cache: bool | None, strict: bool | None, batch_rows: int) -> Batches:
        frames.check(output)
        unsigned("chunk_size", chunk_size, 10_000, provider="moz")
        unsigned("batch_rows", batch_rows, 10_000_000, provider="moz")
        if chunk_size < 1 or batch_rows < 1:
            raise InvalidRequest("chunk_size and batch_rows must be at least 1", provider="moz")
        if isinstance(items, (str, bytes)):
            raise InvalidRequest("the bulk methods take an iterable; wrap a single item in a list", provider="moz")
        extra = {"_cache": cache} if cache is not None else {}
        size = len(items) if hasattr(items, "__len__") else None
        tracker = _progress.start(progress, size, f"moz {method}")
        core = self._api.multiple_stream(method, items, extra, chunk_size, strict is not False, batch_rows, tracker,
                                         _bulk_columns(method) if output != "dicts" else None)
        return Batches(core, output, tracker)

    def _bulk_args(self, items: Any, chunk_size: int, output: str, cache: bool | None, strict: bool | None) -> tuple[list[Any], dict[str, Any]]:
        frames.check(output)
        unsigned("chunk_size", chunk_size, 10_000, provider="moz")
        if isinstance(items, (str, bytes)):
            raise InvalidRequest("the bulk methods take an iterable; wrap a single item in a list", provider="moz")
        extra = {"_cache": cache} if cache is not None else {}
        return list(items), extra

    def _multiple(self, method: str, items: Any, chunk_size: int, output: str, progress: ProgressArg,
                  cache: bool | None, strict: bool | None) -> Rows:
        items, extra = self._bulk_args(items, chunk_size, output, cache, strict)
        frame = _bulk_columns(method) if output != "dicts" else None
        tracker = _progress.start(progress, len(items), f"moz {method}")
        try:
            value, meta = self._api.multiple(method, items, extra, chunk_size, strict is not False, tracker, frame)
        finally:
            tracker.close()
        return self._settle_multiple(method, value, meta, output)

    async def _multiple_async(self, method: str, items: Any, chunk_size: int, output: str, progress: ProgressArg,
                              cache: bool | None, strict: bool | None) -> Rows:
        items, extra = self._bulk_args(items, chunk_size, output, cache, strict)
        frame = _bulk_columns(method) if output != "dicts" else None
        tracker = _progress.start(progress, len(items), f"moz {method}")
        try:
            value, meta = await self._api.multiple_async(method, items, extra, chunk_size, strict is not False, tracker, frame)
        finally:
            tracker.close()
        return self._settle_multiple(method, value, meta, output)

    def _settle_multiple(self, method: str, value: Any, meta: dict[str, Any], output: str) -> Any:
        budget = self._pool_budget(method)
        if output == "dicts":
            return settle(budget, self.account, value, meta)
        settle(budget, self.account, [], meta)
        return frames.convert(value, output, meta)

    def each(self, method: str, items: Iterable[Any], *, progress: ProgressArg = None, output: Output = "dicts",
             **fields: Any) -> Rows:
        """A single-item method once per item, at the plan's concurrency, answers in input order:
        ``each("data.keyword.metrics.fetch", keywords)`` or ``each("brand_authority", domains)``.
        Each item is the method's subject (``site_query``, ``serp_query``, ``target_query``); the
        other ``fields`` are shared. An item's own failure (invalid, or a keyword Moz does not
        know) is an :class:`ItemError` in its place; any other failure stops the run with a
        :class:`BulkError` holding what arrived. ``output=`` gives one flattened row per item."""
        return self._each(method, items, progress, output, fields)

    async def each_async(self, method: str, items: Iterable[Any], *, progress: ProgressArg = None,
                         output: Output = "dicts", **fields: Any) -> Rows:
        return await self._each(method, items, progress, output, fields, run_async=True)

    def _each(self, method: str, items: Any, progress: ProgressArg, output: str, fields: dict[str, Any], run_async: bool = False) -> Any:
        from .catalog import endpoints

        frames.check(output)
        if isinstance(items, (str, bytes)):
            raise InvalidRequest("each() takes an iterable of items; wrap a single one in a list", provider="moz")
        name, _, paging, rows_key = self._api.describe(method)
        op = next(o for o in endpoints("moz") if o.get("method") == name)
        subject = next((k for k in ("site_query", "target_query", "serp_query") if k in (op["data"].get("properties") or {})), None)
        if subject is None or paging != "none" or rows_key:
            raise InvalidRequest(f"each() runs one-object methods with a site, target or keyword subject, not {name}", provider="moz")
        items = list(items)
        data = self._data(None, fields)
        strict = data.pop("_strict", True) is not False
        tracker = _progress.start(progress, len(items), f"moz {name}")

        def done(value: Any, meta: dict[str, Any]) -> Any:
            tracker.close()
            settle(self._pool_budget(name), self.account, [], meta)
            if output == "dicts":
                return Rows(value, meta)
            return frames.convert(value, output, meta)

        from .catalog import moz_columns

        frame = moz_columns(name) if output != "dicts" else None  # a row per item, read from the bytes
        if run_async:
            async def go() -> Any:
                try:
                    value, meta = await self._api.each_async(name, subject, items, data, strict, tracker, frame)
                except BaseException:
                    tracker.close()
                    raise
                return done(value, meta)

            return go()
        try:
            value, meta = self._api.each(name, subject, items, data, strict, tracker, frame)
        except BaseException:
            tracker.close()
            raise
        return done(value, meta)

    def estimate(self, endpoint: str, data: dict[str, Any] | None = None, **fields: Any) -> int:
        """Worst-case rows of a call, offline: a Moz API method (dotted name; ``limit`` results,
        4 keyword values, ...) or a Links v2 endpoint (``url_metrics`` takes any number of targets)."""
        if _is_rpc(endpoint):
            merged = self._data(data, fields)
            strict = merged.pop("_strict", True)
            merged.pop("_cache", None)
            return int(self._api.estimate(endpoint, merged, strict is not False))
        if endpoint == "url_metrics" and "targets" in fields:
            targets = fields.pop("targets")
            return self._core.estimate_url_metrics(targets, **self._fields(fields))
        return self._core.estimate(endpoint, **self._fields(fields))

    def quota(self, pool: str = "data") -> dict[str, Any]:
        """Moz's own count for a quota pool (``quota.lookup``, free): ``allotted``, ``used`` and
        ``remaining`` (allotted - used; Moz sends no remaining field)."""
        if pool not in POOLS:
            raise InvalidRequest(f"unknown Moz quota pool {pool!r}: one of {', '.join(POOLS)}", provider="moz")
        q = dict(self.call("quota.lookup", path=POOLS[pool])["quota"])
        q["remaining"] = max(0, int(q.get("allotted") or 0) - int(q.get("used") or 0))
        q["pool"] = pool
        return q

    async def quota_async(self, pool: str = "data") -> dict[str, Any]:
        if pool not in POOLS:
            raise InvalidRequest(f"unknown Moz quota pool {pool!r}: one of {', '.join(POOLS)}", provider="moz")
        q = dict((await self.call_async("quota.lookup", path=POOLS[pool]))["quota"])
        q["remaining"] = max(0, int(q.get("allotted") or 0) - int(q.get("used") or 0))
        q["pool"] = pool
        return q

    def _provider_readings(self) -> list[tuple[str, str, str, int]]:
        """For ``Ledger.sync``: each pool's rows as Moz counts them (``quota.lookup``, free).
        Basic-auth accounts (Links v2 only) read ``usage_data``."""
        if not self._token:
            return [self._provider_reading()]
        accounts = self.accounts
        return [("moz", accounts[pool], "spent", int(self.quota(pool)["used"])) for pool in POOLS]

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

    def pages(
        self,
        endpoint: str,
        *,
        page_size: int = _DEFAULT_PAGE,
        max_rows: int | None = None,
        output: Output = "dicts",
        progress: ProgressArg = None,
        **fields: Any,
    ) -> Pages:
        """Pages of a paged method (``for`` or ``async for``), each row once, in order; each page
        a :class:`Rows`, or a frame with ``output=``. A Moz API method follows ``offset.token``
        until it is null, or ``page.n`` until a short page (``page_size`` defaults to the most a
        page may hold); a Links v2 endpoint follows ``next_token``."""
        frames.check(output)
        if _is_rpc(endpoint):
            unsigned("max_rows", max_rows, MAX_UNITS, provider="moz", optional=True)
            data = self._data(fields.pop("data", None), fields)
            strict = data.pop("_strict", True)
            size = None if page_size == _DEFAULT_PAGE else page_size
            stream = self._api.pages(endpoint, data, size, max_rows, strict is not False, self._rpc_frame(endpoint, output))
            return Pages(stream, _RpcSettler(self, endpoint), output, progress, max_rows)
        if page_size == _DEFAULT_PAGE:
            page_size = 50
        unsigned("page_size", page_size, 50, provider="moz")
        unsigned("max_rows", max_rows, MAX_UNITS, provider="moz", optional=True)
        stream = self._core.pages(endpoint, page_size, max_rows, _links_frame(endpoint, output), **self._fields(fields))
        return Pages(stream, self, output, progress, max_rows)

    def rows(self, endpoint: str, *, page_size: int = _DEFAULT_PAGE, max_rows: int | None = None, **fields: Any) -> RowStream:
        """Rows of a paged method across pages (``for`` or ``async for``), each exactly once."""
        return RowStream(self.pages(endpoint, page_size=page_size, max_rows=max_rows, **fields))

    def provision_user(self, email: str) -> None:
        """Moz has no user API: raises :class:`NotSupported` with the manual path."""
        raise not_supported("moz", "provision")

    def deprovision_user(self, email: str) -> None:
        """Moz has no user API: raises :class:`NotSupported` with the manual path."""
        raise not_supported("moz", "deprovision")

    def _provider_reading(self) -> tuple[str, str, str, int]:
        """Links v2 rows Moz counts as consumed this month (``usage_data``)."""
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
        stream: bool = False,
        batch_rows: int = 10_000,
    ) -> Any:
        """Metrics for any number of URLs or domains (list, tuple, pandas Series...): one dict
        per input target, in input order. Duplicates are fetched once; requests of 50 run at the
        plan's concurrency. A chunk that fails after retries raises with the index range it covered.

        ``stream=True`` returns :class:`~seowire.Batches` instead (``for`` and ``async for``):
        targets are read from the iterable (a generator is fine) as requests need them, and rows
        come in input order in batches of ``batch_rows``, so memory stays flat however many
        targets there are. Repeats are then fetched once per request rather than once per call."""
        frames.check(output)
        if stream:
            return self._url_metrics_stream(targets, output, progress, batch_rows, cache=cache,
                                            daily_history_deltas=daily_history_deltas, daily_history_values=daily_history_values,
                                            monthly_history_deltas=monthly_history_deltas,
                                            monthly_history_values=monthly_history_values, distributions=distributions)
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
                frame=output != "dicts",
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
        stream: bool = False,
        batch_rows: int = 10_000,
    ) -> Any:
        frames.check(output)
        if stream:
            return self._url_metrics_stream(targets, output, progress, batch_rows, cache=cache,
                                            daily_history_deltas=daily_history_deltas, daily_history_values=daily_history_values,
                                            monthly_history_deltas=monthly_history_deltas,
                                            monthly_history_values=monthly_history_values, distributions=distributions)
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
                frame=output != "dicts",
            )
        finally:
            tracker.close()
        return self._settle(value, meta, output)

    def _url_metrics_stream(self, targets: Any, output: str, progress: ProgressArg, batch_rows: int, **fields: Any) -> Batches:
        unsigned("batch_rows", batch_rows, 10_000_000, provider="moz")
        if batch_rows < 1:
            raise InvalidRequest("batch_rows must be at least 1", provider="moz")
        size = len(targets) if hasattr(targets, "__len__") else None
        tracker = _progress.start(progress, size, "moz url_metrics")
        core = self._core.url_metrics_stream(targets, batch_rows=batch_rows, frame=output != "dicts", progress=tracker, **fields)
        return Batches(core, output, tracker)
