"""SEMrush Analytics API v3 client (reports, backlinks, balance)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Literal, Sequence, TypedDict, overload

from . import _seowire, frames
from ._progress import ProgressArg
from .frames import Output
from .lifecycle import not_supported
from ._semrush_api import SemrushApiMethods
from ._semrush_reports import SemrushReports
from ._common import MAX_UNITS, Budget, Client, Pages, Rows, RowStream, cache_ttl, resolve_ledger, settle, unsigned
from .exceptions import AuthenticationError, InvalidRequest

if TYPE_CHECKING:
    from ._seowire import Ledger, RetryPolicy

__all__ = ["Semrush", "Pages", "RowStream", "parse_csv", "ReportOptions", "quote", "V4Object"]

_NO_V3 = ("this is a SEMrush API v3 call and the client has no v3 key: pass api_key= (or set SEMRUSH_API_KEY). "
          "Since 2026-07-15 keys are version-specific: a v4 key does not work on v3 (the v3 key is under "
          "Subscription info > API units)")
_NO_V4 = ("this is a SEMrush API v4 call and the client has no v4 key: pass v4_key= (or set SEMRUSH_V4_API_KEY). "
          "Create one under Subscription info > API keys (up to 100 per account, each with its own permissions "
          "and expiry); a v3 key does not work on v4")


class _NoKey:
    """Stands in for the core of an API version the client has no key for: any use says which
    key is needed and where to create it."""

    def __init__(self, message: str) -> None:
        self._message = message

    def __getattr__(self, name: str) -> Any:
        raise AuthenticationError(self._message, provider="semrush")


class V4Object(dict):  # type: ignore[type-arg]
    """A one-object v4 answer (``data``), with what it cost and the answer's ``request_id``."""

    __slots__ = ("units", "request_id", "report")

    def __init__(self, data: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(data)
        self.units = meta.get("units", 0)
        self.request_id = meta.get("request_id")
        self.report = meta.get("report")


def _requested(core: Any, path: str, params: dict[str, Any]) -> int | None:
    """Lines a v4 list call asked for (its limit, or the default the core sends)."""
    limit = params.get("limit")
    if isinstance(limit, int) and not isinstance(limit, bool):
        return limit
    return 100 if "/" in path else None


def _counts(keywords: int | None, snapshots: int | None, competitors: int | None) -> list[tuple[str, int]]:
    out = []
    for name, n in (("keywords", keywords), ("snapshots", snapshots), ("competitors", competitors)):
        if n is None:
            continue
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidRequest(f"{name} must be a positive count, not {n!r}", provider="semrush")
        out.append((name, n))
    return out


_NUMERIC = {"Cp": float, "Nq": int, "Gs": int}


def _positions(out: Any, keywords: int) -> Rows:
    """Position Tracking ``data`` ({"0": {...}, "1": {...}}) as rows in index order."""
    data = out.get("data") if isinstance(out, dict) else None
    if not isinstance(data, dict):
        from .exceptions import ResponseFormatError

        raise ResponseFormatError("SEMrush tracking_position_organic answered without its data object", provider="semrush")
    rows = []
    for _, row in sorted(data.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 1 << 62):
        row = dict(row)
        for k, cast in _NUMERIC.items():
            if isinstance(row.get(k), str):
                try:
                    row[k] = cast(row[k])
                except ValueError:
                    pass
        rows.append(row)
    return Rows(rows, {"provider": "semrush", "report": "tracking_position_organic", "units": 100 * keywords,
                       "lines": len(rows), "requested": out.get("total")})


def quote(value: Any) -> str:
    """A value for the v4 filter DSL, quoted safely: ``f"source_url LIKE {quote(prefix + '%')}"``
    (text in single quotes, each ``'`` doubled; numbers as they are; lists in parentheses)."""
    return str(_seowire.SemrushV4Core.quote(value))


class ReportOptions(TypedDict, total=False):
    """Options most SEMrush reports accept (reference §3.3)."""

    display_limit: int
    display_offset: int
    display_sort: str
    display_filter: str
    display_date: str
    display_daily: int
    display_positions: str
    export_columns: Sequence[str] | str
    export_escape: int
    cache: bool
    output: Output


def parse_csv(data: bytes, columns: Sequence[str] | None = None, *, output: Output = "dicts") -> Any:
    """Decode a SEMrush CSV body (or saved export) into typed dicts, or a frame with ``output=``.

    ``columns`` are the request's ``export_columns`` codes; with them, values are mapped by
    position (header text varies by report) and named by code (``Ph`` -> ``keyword``). Without
    them, names come from the header.
    """
    cols = list(columns) if columns is not None else None
    if frames.check(output):
        return frames.convert(_seowire.parse_semrush_csv(data, cols, frame=True), output)
    return _seowire.parse_semrush_csv(data, cols)


class Semrush(Client, SemrushReports, SemrushApiMethods):
    """A client for one SEMrush API key.

    Every report call reserves its worst-case cost in the ledger before sending, commits the
    units of the lines actually received, and refuses with ``BudgetExceeded`` (sending nothing)
    if the budget could be crossed. Requests are limited to ``rate_limit`` per second and
    ``max_in_flight`` at once per account in this process (SEMrush allows 10 and 10).

    Every report of the price table has a method (``domain_organic``, ``phrase_kdi``,
    ``backlinks_refdomains``, ...; see ``seowire endpoints semrush``), generated from the table
    with its price in the docstring; ``report(type, ...)`` reaches any of them by name.
    """

    provider = "semrush"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        ledger: Ledger | str | None = None,
        budget: Budget | int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        rate_limit: float | None = 10.0,
        max_in_flight: int | None = 10,
        check_partial: bool = True,
        cache: bool | float = True,
        v4_key: str | None = None,
        account: str | None = None,
        v4_base_url: str | None = None,
        v4_prices: dict[str, tuple[str, int]] | None = None,
        trends_budget: Budget | int | None = None,
        trends_base_url: str | None = None,
        tag: str | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("SEMRUSH_API_KEY", "")
        v4 = v4_key if v4_key is not None else os.environ.get("SEMRUSH_V4_API_KEY", "")
        if not key and not v4:
            raise AuthenticationError("no SEMrush API key: pass api_key= (v3) and/or v4_key= (v4), or set SEMRUSH_API_KEY / "
                                      "SEMRUSH_V4_API_KEY", provider="semrush")
        self._budget = Budget.coerce(budget)
        unsigned("max_in_flight", max_in_flight, 10_000, provider="semrush", optional=True)
        resolved = resolve_ledger(ledger)
        base = base_url or os.environ.get("SEOWIRE_SEMRUSH_URL") or None
        self._core: Any = _NoKey(_NO_V3)
        if key:
            self._core = _seowire.SemrushCore(
                key,
                base_url=base,
                ledger=resolved,
                budget=self._budget._spec() if self._budget else None,
                retry=retry,
                timeout=timeout,
                rate_per_second=rate_limit,
                max_in_flight=max_in_flight,
                check_partial=check_partial,
                cache_ttl=cache_ttl(cache),
                account=account,
            )
        self._v4: Any = _NoKey(_NO_V4)
        if v4:
            # One account for both keys: the same ledger account, budget and 10/s, 10-in-flight limit.
            v4_base = v4_base_url or os.environ.get("SEOWIRE_SEMRUSH_V4_URL") or (f"{base.rstrip('/')}/apis/v4" if base else None)
            self._v4 = _seowire.SemrushV4Core(
                v4,
                v3=self._core if key else None,
                base_url=v4_base,
                ledger=resolved,
                budget=self._budget._spec() if self._budget else None,
                retry=retry,
                timeout=timeout,
                rate_per_second=rate_limit,
                max_in_flight=max_in_flight,
                cache_ttl=cache_ttl(cache),
                account=account,
                prices=dict(v4_prices) if v4_prices else None,
            )
        self._trends_budget = Budget.coerce(trends_budget)
        self._trends: Any = _NoKey(_NO_V3)
        if key:
            trends_base = trends_base_url or os.environ.get("SEOWIRE_SEMRUSH_TRENDS_URL") or (f"{base.rstrip('/')}/analytics/ta" if base else None)
            self._trends = _seowire.SemrushTrendsCore(
                self._core, base_url=trends_base, budget=self._trends_budget._spec() if self._trends_budget else None,
                retry=retry, timeout=timeout, cache_ttl=cache_ttl(cache),
            )
        self._projects: Any = _NoKey(_NO_V3)
        if key:
            self._projects = _seowire.SemrushProjectsCore(
                self._core, base_url=os.environ.get("SEOWIRE_SEMRUSH_PROJECTS_URL") or (base.rstrip("/") if base else None),
                retry=retry, timeout=timeout)
        self._keys = (bool(key), bool(v4))
        self._check_partial = check_partial
        self.tag = tag

    @property
    def account(self) -> str:
        """The ledger account of this SEMrush account (both keys count in it)."""
        return str(self._core.account if self._keys[0] else self._v4.account)

    @property
    def ledger(self) -> Any:
        return self._core.ledger if self._keys[0] else self._v4.ledger

    @property
    def base_url(self) -> str:
        return str(self._core.base_url if self._keys[0] else self._v4.base_url)

    @property
    def keys(self) -> dict[str, bool]:
        """Which key versions this client has (never the keys themselves)."""
        return {"v3": self._keys[0], "v4": self._keys[1]}

    # -- Trends API v3 ----------------------------------------------------------------------

    def _trends_result(self, value: list[Any], meta: dict[str, Any], output: str) -> Any:
        settle(self._trends_budget, self.account, [], meta)
        if output != "dicts":
            types = {c: "date" for c in meta.get("columns", []) if c == "display_date"}
            return frames.convert(value, output, meta, meta.get("columns"), types)
        return Rows(value, meta)

    def trends(self, report: str, *, output: Output = "dicts", **params: Any) -> Any:
        """Any Trends API v3 report (``summary``, ``sources``, ``geo``, ...): typed rows (numbers,
        booleans, ``n/a`` as None; the CSV separator sniffed from the header), charged to
        Trends' own allowance, a separate ledger account (``<account>:trends``) with its own
        budget (``trends_budget=``). Lists (``targets``) may be given as Python lists."""
        frames.check(output)
        value, meta = self._trends.report(report, **params)
        return self._trends_result(value, meta, output)

    async def trends_async(self, report: str, *, output: Output = "dicts", **params: Any) -> Any:
        frames.check(output)
        value, meta = await self._trends.report_async(report, **params)
        return self._trends_result(value, meta, output)

    def trends_limits(self) -> tuple[int, str]:
        """The free Trends limits endpoint as it answers: ``(HTTP status, body text)``. Its format
        is unpublished, so seowire does not parse it."""
        status, body = self._trends.limits()
        return int(status), str(body)

    # -- Projects, Position Tracking, Site Audit (v3) -----------------------------------------

    def projects(self, path: str, method: str = "GET", *, json: Any = None, keywords: int | None = None,
                 snapshots: int | None = None, competitors: int | None = None, **params: Any) -> Any:
        """Any Projects API call by path: v3 (``"management/v1/projects"``,
        ``"reports/v1/projects/{id}/siteaudit/info"``) on the v3 key, or v4 (``"projects/v1/projects"``,
        ``"position-tracking/v1/..."``, ``"site-audit/v1/..."``, GET) on the v4 key, whose prices
        are unpublished: 100 per request is assumed [I], ``v4_prices=`` overrides. v3 units follow the
        documented rules: 100 per request, 100 per keyword for positions (``keywords=``: the
        campaign's keyword count), 1,000 per competitor or landing page (``competitors=``),
        10,000 per snapshot (``snapshots=`` for history), 1,000 per page report. A call whose rule
        needs a count it was not given is refused rather than under-reserved."""
        if path.strip("/").split("/")[0] in ("projects", "position-tracking", "site-audit"):
            if method.upper() != "GET" or json is not None:
                raise InvalidRequest("seowire sends v4 Projects calls as GET; use v3 paths for writes", provider="semrush")
            return self.v4(path, **params)
        value, meta = self._projects.call(method, path, params, _counts(keywords, snapshots, competitors), json)
        settle(self._budget, self.account, [], meta)
        return value

    async def projects_async(self, path: str, method: str = "GET", *, json: Any = None, keywords: int | None = None,
                             snapshots: int | None = None, competitors: int | None = None, **params: Any) -> Any:
        if path.strip("/").split("/")[0] in ("projects", "position-tracking", "site-audit"):
            if method.upper() != "GET" or json is not None:
                raise InvalidRequest("seowire sends v4 Projects calls as GET; use v3 paths for writes", provider="semrush")
            return await self.v4_async(path, **params)
        value, meta = await self._projects.call_async(method, path, params, _counts(keywords, snapshots, competitors), json)
        settle(self._budget, self.account, [], meta)
        return value

    def list_projects(self) -> list[dict[str, Any]]:
        """Every project of the account (100 units)."""
        out = self.projects("management/v1/projects")
        return list(out) if isinstance(out, list) else [out]

    def tracking_position_organic(self, campaign_id: str, *, keywords: int, url: str | Sequence[str],
                                  date_begin: str | None = None, date_end: str | None = None, **params: Any) -> Rows:
        """Organic positions of a Position Tracking campaign (``<project>_<n>``): one row per
        keyword (the index-keyed ``data`` object as rows; ``Cp``, ``Nq``, ``Gs`` sent as strings
        become numbers). ``keywords`` is the campaign's keyword count: 100 units each. ``url``
        takes masks (``*.example.com/*``), several joined with ``:``."""
        out = self.projects(f"reports/v1/projects/{campaign_id}/tracking/", keywords=keywords, action="report",
                            type="tracking_position_organic", url=url, date_begin=date_begin, date_end=date_end, **params)
        return _positions(out, keywords)

    def site_audit_info(self, project_id: int | str) -> dict[str, Any]:
        """Site Audit summary of a project (100 units); times are epoch milliseconds."""
        out: dict[str, Any] = self.projects(f"reports/v1/projects/{project_id}/siteaudit/info")
        return out

    def site_audit_snapshots(self, project_id: int | str) -> list[dict[str, Any]]:
        """The Site Audit snapshots of a project (100 units)."""
        out = self.projects(f"reports/v1/projects/{project_id}/siteaudit/snapshots")
        return list(out.get("snapshots", [])) if isinstance(out, dict) else []

    def site_audit_snapshot(self, project_id: int | str, snapshot_id: str) -> dict[str, Any]:
        """One snapshot's issues (errors, warnings, notices with counts): 10,000 units."""
        out: dict[str, Any] = self.projects(f"reports/v1/projects/{project_id}/siteaudit/snapshot/{snapshot_id}")
        return out

    async def list_projects_async(self) -> list[dict[str, Any]]:
        out = await self.projects_async("management/v1/projects")
        return list(out) if isinstance(out, list) else [out]

    async def tracking_position_organic_async(self, campaign_id: str, *, keywords: int, url: str | Sequence[str],
                                              date_begin: str | None = None, date_end: str | None = None, **params: Any) -> Rows:
        out = await self.projects_async(f"reports/v1/projects/{campaign_id}/tracking/", keywords=keywords, action="report",
                                        type="tracking_position_organic", url=url, date_begin=date_begin, date_end=date_end, **params)
        return _positions(out, keywords)

    async def site_audit_info_async(self, project_id: int | str) -> dict[str, Any]:
        out: dict[str, Any] = await self.projects_async(f"reports/v1/projects/{project_id}/siteaudit/info")
        return out

    async def site_audit_snapshots_async(self, project_id: int | str) -> list[dict[str, Any]]:
        out = await self.projects_async(f"reports/v1/projects/{project_id}/siteaudit/snapshots")
        return list(out.get("snapshots", [])) if isinstance(out, dict) else []

    async def site_audit_snapshot_async(self, project_id: int | str, snapshot_id: str) -> dict[str, Any]:
        out: dict[str, Any] = await self.projects_async(f"reports/v1/projects/{project_id}/siteaudit/snapshot/{snapshot_id}")
        return out

    # -- API v4 -----------------------------------------------------------------------------

    def _v4_partial(self, lines: int, meta: dict[str, Any], requested: int | None) -> None:
        """A short per-line page is the end of the data or the balance running out; with the
        v3 key the (free) balance tells which, as for v3 reports."""
        if not requested or lines >= requested or not self._keys[0] or not self._check_partial or meta.get("cached"):
            return
        per_line = (meta.get("estimate") or 0) // requested
        if per_line and (meta.get("units") or 0) == per_line * lines:
            try:
                if self.balance() < per_line:
                    meta["partial"] = True
                    meta["requested"] = requested
            except Exception:  # the balance is a hint; the page is delivered either way
                pass

    def _v4_result(self, value: Any, meta: dict[str, Any], output: str, requested: int | None = None) -> Any:
        if isinstance(value, list):
            self._v4_partial(len(value), meta, requested)
            if output != "dicts":
                return self._settle(value, meta, output)
            rows = self._settle(value, meta)
            return rows
        self._settle(None, meta)
        return V4Object(value if isinstance(value, dict) else {}, meta)

    def v4(self, path: str, *, output: Output = "dicts", **params: Any) -> Any:
        """Any API v4 operation by its path under ``/apis/v4/`` (``"backlinks/v1/links"``):
        rows for a list (a :class:`Rows` with ``request_id``), a :class:`V4Object` otherwise.
        ``fields=[...]`` selects columns; ``filter=`` takes the v4 DSL (see :func:`quote`). The
        v4 key travels only in ``Authorization: Apikey``. Named operations are validated and
        priced from the table ([T] prices; ``v4_prices=`` overrides or adds one)."""
        frames.check(output)
        value, meta = self._v4.call(path, **params)
        return self._v4_result(value, meta, output, _requested(self._v4, path, params))

    async def v4_async(self, path: str, *, output: Output = "dicts", **params: Any) -> Any:
        frames.check(output)
        value, meta = await self._v4.call_async(path, **params)
        return self._v4_result(value, meta, output, _requested(self._v4, path, params))

    # -- generic ----------------------------------------------------------------------------

    def estimate(self, report: str, **params: Any) -> int:
        """Worst-case units of ``report(report, **params)`` (a v3 report type) or of a v4
        operation path (``"backlinks/v1/links"``), computed offline."""
        if "/" in report:
            return int(self._v4.estimate(report, **params))
        return self._core.estimate(report, **params)

    def url(self, report: str, **params: Any) -> str:
        """The request URL for a report, with the key shown as ``key=***``."""
        return self._core.url(report, **params)

    @overload
    def report(self, type: str, *, output: Literal["dicts"] = "dicts", **params: Any) -> Rows: ...
    @overload
    def report(self, type: str, *, output: Literal["arrow", "pandas", "polars"], **params: Any) -> Any: ...
    @overload
    def report(self, type: str, *, output: Output, **params: Any) -> Any: ...

    def report(self, type: str, *, output: Output = "dicts", **params: Any) -> Any:
        """Any report of the price table: ``report("domain_organic", domain=..., database="us")``.
        ``output="pandas"`` (or ``"arrow"``, ``"polars"``) returns a typed frame built in Rust."""
        frame = frames.check(output)
        rows, meta = self._core.report(type, frame=frame, **params)
        return self._settle(rows, meta, output)

    @overload
    async def report_async(self, type: str, *, output: Literal["dicts"] = "dicts", **params: Any) -> Rows: ...
    @overload
    async def report_async(self, type: str, *, output: Literal["arrow", "pandas", "polars"], **params: Any) -> Any: ...
    @overload
    async def report_async(self, type: str, *, output: Output, **params: Any) -> Any: ...

    async def report_async(self, type: str, *, output: Output = "dicts", **params: Any) -> Any:
        frame = frames.check(output)
        rows, meta = await self._core.report_async(type, frame=frame, **params)
        return self._settle(rows, meta, output)

    def pages(
        self,
        report: str,
        *,
        page_size: int = 10_000,
        max_rows: int | None = None,
        output: Output = "dicts",
        progress: ProgressArg = None,
        on_partial: str = "raise",
        **params: Any,
    ) -> Pages:
        """Pages of a report via ``display_offset``, each row once; stops at ``max_rows``.
        Each page is a :class:`Rows`, or a frame with ``output=``. If the unit balance runs out
        mid-report, the short page is delivered (flagged ``partial``) and the next step raises
        :class:`PartialResult`; ``on_partial="stop"`` ends iteration there instead."""
        frame = frames.check(output)
        unsigned("page_size", page_size, 100_000, provider="semrush")
        unsigned("max_rows", max_rows, MAX_UNITS, provider="semrush", optional=True)
        if "/" in report:  # a v4 operation: limit/offset until a short page
            size = min(page_size, 1000) if page_size == 10_000 else page_size
            return Pages(self._v4.pages(report, size, max_rows, **params), self, output, progress, max_rows, on_partial)
        return Pages(self._core.pages(report, page_size, max_rows, frame=frame, **params), self, output, progress, max_rows, on_partial)

    def rows(self, report: str, *, page_size: int = 10_000, max_rows: int | None = None, on_partial: str = "raise", **params: Any) -> RowStream:
        """Rows of a report across pages (``for`` or ``async for``); see :meth:`pages` for
        ``on_partial``."""
        return RowStream(self.pages(report, page_size=page_size, max_rows=max_rows, on_partial=on_partial, **params))

    def balance(self) -> int:
        """Units left on the key (countapiunits; free)."""
        return self._core.balance()

    async def balance_async(self) -> int:
        return await self._core.balance_async()

    def provision_user(self, email: str) -> None:
        """Semrush has no user API: raises :class:`NotSupported` with the manual path."""
        raise not_supported("semrush", "provision")

    def deprovision_user(self, email: str) -> None:
        """Semrush has no user API: raises :class:`NotSupported` with the manual path."""
        raise not_supported("semrush", "deprovision")

    def _provider_reading(self) -> tuple[str, str, str, int]:
        """For ``Ledger.sync``: the unit balance (spending shows as it goes down)."""
        return ("semrush", self.account, "balance", self.balance())
