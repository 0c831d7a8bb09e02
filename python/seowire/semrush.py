"""SEMrush Analytics API v3 client (reports, backlinks, balance)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Literal, Sequence, TypedDict, overload

from . import _seowire, frames
from ._progress import ProgressArg
from .frames import Output
from .lifecycle import not_supported
from ._semrush_reports import SemrushReports
from ._common import MAX_UNITS, Budget, Client, Pages, Rows, RowStream, cache_ttl, resolve_ledger, unsigned
from .exceptions import AuthenticationError

if TYPE_CHECKING:
    from ._seowire import Ledger, RetryPolicy

__all__ = ["Semrush", "Pages", "RowStream", "parse_csv", "ReportOptions"]


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


class Semrush(Client, SemrushReports):
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
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("SEMRUSH_API_KEY", "")
        if not key:
            raise AuthenticationError("no SEMrush API key: pass api_key= or set SEMRUSH_API_KEY", provider="semrush")
        self._budget = Budget.coerce(budget)
        unsigned("max_in_flight", max_in_flight, 10_000, provider="semrush", optional=True)
        self._core = _seowire.SemrushCore(
            key,
            base_url=base_url or os.environ.get("SEOWIRE_SEMRUSH_URL") or None,
            ledger=resolve_ledger(ledger),
            budget=self._budget._spec() if self._budget else None,
            retry=retry,
            timeout=timeout,
            rate_per_second=rate_limit,
            max_in_flight=max_in_flight,
            check_partial=check_partial,
            cache_ttl=cache_ttl(cache),
        )

    # -- generic ----------------------------------------------------------------------------

    def estimate(self, report: str, **params: Any) -> int:
        """Worst-case units of ``report(report, **params)``, computed offline."""
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
