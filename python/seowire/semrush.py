"""SEMrush Analytics API v3 client (reports, backlinks, balance)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Literal, Sequence, TypedDict, overload

from . import _seowire, frames
from ._progress import ProgressArg
from .frames import Output
from .lifecycle import not_supported
from ._common import MAX_UNITS, Budget, Client, Pages, Rows, RowStream, cache_ttl, resolve_ledger, unsigned
from .exceptions import AuthenticationError

if TYPE_CHECKING:
    from typing_extensions import Unpack

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


class Semrush(Client):
    """A client for one SEMrush API key.

    Every report call reserves its worst-case cost in the ledger before sending, commits the
    units of the lines actually received, and refuses with ``BudgetExceeded`` (sending nothing)
    if the budget could be crossed. Requests are limited to ``rate_limit`` per second and
    ``max_in_flight`` at once per account in this process (SEMrush allows 10 and 10).
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

    # -- domain reports -----------------------------------------------------------------------

    def domain_ranks(self, domain: str, **options: Unpack[ReportOptions]) -> Rows:
        """Domain overview in every regional database (10 units/line)."""
        return self.report("domain_ranks", domain=domain, **options)

    async def domain_ranks_async(self, domain: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("domain_ranks", domain=domain, **options)

    def domain_rank(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Domain overview in one database (10 units/line)."""
        return self.report("domain_rank", domain=domain, database=database, **options)

    async def domain_rank_async(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("domain_rank", domain=domain, database=database, **options)

    def domain_rank_history(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Monthly domain overview history (10 units/line)."""
        return self.report("domain_rank_history", domain=domain, database=database, **options)

    async def domain_rank_history_async(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("domain_rank_history", domain=domain, database=database, **options)

    def domain_organic(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Organic keywords of a domain (10 units/line, 50 historical)."""
        return self.report("domain_organic", domain=domain, database=database, **options)

    async def domain_organic_async(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("domain_organic", domain=domain, database=database, **options)

    def domain_adwords(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Paid keywords of a domain (20 units/line)."""
        return self.report("domain_adwords", domain=domain, database=database, **options)

    async def domain_adwords_async(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("domain_adwords", domain=domain, database=database, **options)

    def domain_organic_organic(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Organic competitors (40 units/line)."""
        return self.report("domain_organic_organic", domain=domain, database=database, **options)

    async def domain_organic_organic_async(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("domain_organic_organic", domain=domain, database=database, **options)

    def domain_domains(self, domains: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Domain vs. domain, e.g. ``domains="*|or|a.com|*|or|b.com"`` (80 units/line)."""
        return self.report("domain_domains", domains=domains, database=database, **options)

    async def domain_domains_async(self, domains: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("domain_domains", domains=domains, database=database, **options)

    def domain_organic_unique(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Organic pages of a domain (10 units/line)."""
        return self.report("domain_organic_unique", domain=domain, database=database, **options)

    async def domain_organic_unique_async(self, domain: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("domain_organic_unique", domain=domain, database=database, **options)

    # -- keyword reports ----------------------------------------------------------------------

    def phrase_this(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Keyword overview in one database (10 units/line)."""
        return self.report("phrase_this", phrase=phrase, database=database, **options)

    async def phrase_this_async(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("phrase_this", phrase=phrase, database=database, **options)

    def phrase_all(self, phrase: str, **options: Unpack[ReportOptions]) -> Rows:
        """Keyword overview in every database (10 units/line)."""
        return self.report("phrase_all", phrase=phrase, **options)

    async def phrase_all_async(self, phrase: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("phrase_all", phrase=phrase, **options)

    def phrase_these(self, phrases: Sequence[str], *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Batch keyword overview, up to 100 phrases (10 units/line)."""
        return self.report("phrase_these", phrase=list(phrases), database=database, **options)

    async def phrase_these_async(self, phrases: Sequence[str], *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("phrase_these", phrase=list(phrases), database=database, **options)

    def phrase_related(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Related keywords (40 units/line)."""
        return self.report("phrase_related", phrase=phrase, database=database, **options)

    async def phrase_related_async(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("phrase_related", phrase=phrase, database=database, **options)

    def phrase_fullsearch(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Broad-match keywords (20 units/line)."""
        return self.report("phrase_fullsearch", phrase=phrase, database=database, **options)

    async def phrase_fullsearch_async(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("phrase_fullsearch", phrase=phrase, database=database, **options)

    def phrase_questions(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Question keywords (40 units/line)."""
        return self.report("phrase_questions", phrase=phrase, database=database, **options)

    async def phrase_questions_async(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("phrase_questions", phrase=phrase, database=database, **options)

    def phrase_kdi(self, phrases: Sequence[str] | str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Keyword difficulty, up to 100 phrases (50 units/line)."""
        phrase = [phrases] if isinstance(phrases, str) else list(phrases)
        return self.report("phrase_kdi", phrase=phrase, database=database, **options)

    async def phrase_kdi_async(self, phrases: Sequence[str] | str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        phrase = [phrases] if isinstance(phrases, str) else list(phrases)
        return await self.report_async("phrase_kdi", phrase=phrase, database=database, **options)

    def phrase_organic(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Organic SERP results for a keyword (10 units/line)."""
        return self.report("phrase_organic", phrase=phrase, database=database, **options)

    async def phrase_organic_async(self, phrase: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("phrase_organic", phrase=phrase, database=database, **options)

    def url_organic(self, url: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        """Organic keywords of one URL (10 units/line)."""
        return self.report("url_organic", url=url, database=database, **options)

    async def url_organic_async(self, url: str, *, database: str, **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("url_organic", url=url, database=database, **options)

    # -- backlinks ------------------------------------------------------------------------------

    def backlinks_overview(self, target: str, *, target_type: str = "root_domain", **options: Unpack[ReportOptions]) -> Rows:
        """Backlink summary (40 units per request)."""
        return self.report("backlinks_overview", target=target, target_type=target_type, **options)

    async def backlinks_overview_async(self, target: str, *, target_type: str = "root_domain", **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("backlinks_overview", target=target, target_type=target_type, **options)

    def backlinks(self, target: str, *, target_type: str = "root_domain", **options: Unpack[ReportOptions]) -> Rows:
        """Backlinks of a target (40 units/line)."""
        return self.report("backlinks", target=target, target_type=target_type, **options)

    async def backlinks_async(self, target: str, *, target_type: str = "root_domain", **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("backlinks", target=target, target_type=target_type, **options)

    def backlinks_refdomains(self, target: str, *, target_type: str = "root_domain", **options: Unpack[ReportOptions]) -> Rows:
        """Referring domains (40 units/line)."""
        return self.report("backlinks_refdomains", target=target, target_type=target_type, **options)

    async def backlinks_refdomains_async(self, target: str, *, target_type: str = "root_domain", **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("backlinks_refdomains", target=target, target_type=target_type, **options)

    def backlinks_anchors(self, target: str, *, target_type: str = "root_domain", **options: Unpack[ReportOptions]) -> Rows:
        """Anchor texts (40 units/line)."""
        return self.report("backlinks_anchors", target=target, target_type=target_type, **options)

    async def backlinks_anchors_async(self, target: str, *, target_type: str = "root_domain", **options: Unpack[ReportOptions]) -> Rows:
        return await self.report_async("backlinks_anchors", target=target, target_type=target_type, **options)
