"""Pieces every provider client shares: rows with their cost, budgets and alerts, ledgers."""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, ParamSpec, Sequence, TypeVar

from . import _progress, _seowire, frames
from .exceptions import InvalidRequest, PartialResult

logger = logging.getLogger("seowire")

__all__ = ["Rows", "Budget", "BudgetAlert", "Ledger", "Pages", "RowStream"]

Ledger = _seowire.Ledger


class Rows(list):  # type: ignore[type-arg]
    """A ``list[dict]`` of result rows that also says what it cost.

    ``units`` are the units committed to the ledger for this call; ``estimate`` the worst case
    that was reserved; ``partial`` is True when the provider stopped early because the unit
    balance ran out.
    """

    __slots__ = (
        "provider", "report", "units", "estimate", "partial", "lines", "requested", "offset", "spent", "budget",
        "cached", "next_token", "requests", "request_id", "first", "cached_requests",
    )

    provider: str
    report: str
    units: int
    estimate: int
    partial: bool
    lines: int
    requested: int
    offset: int
    spent: int | None
    budget: int | None
    cached: bool | None
    next_token: str | None
    requests: int | None
    request_id: str | None
    first: int | None
    cached_requests: int | None

    def __init__(self, rows: Iterable[dict[str, Any]] = (), meta: dict[str, Any] | None = None) -> None:
        super().__init__(rows)
        meta = meta or {}
        for name in self.__slots__:
            object.__setattr__(self, name, meta.get(name, 0 if name in ("units", "estimate", "lines", "requested", "offset") else None))
        self.partial = bool(meta.get("partial", False))

    def __repr__(self) -> str:
        return f"<Rows {self.report}: {len(self)} rows, {self.units} units{' (partial)' if self.partial else ''}>"

    def _repr_html_(self) -> str:
        from ._usage import rows_html

        return rows_html(self)


@dataclass(frozen=True)
class BudgetAlert:
    """Passed to ``Budget.on_alert`` when spending crosses a threshold."""

    provider: str
    account: str
    threshold: float
    spent: int
    budget: int


MAX_UNITS = 2**53 - 1
"""The largest unit figure seowire books: every ledger backend holds it exactly."""


def unsigned(name: str, value: Any, maximum: int, *, provider: str | None = None, optional: bool = False) -> Any:
    """Check an unsigned setting (page sizes, row caps, limits, budgets) before it reaches the
    core: an int in 0..=maximum, else ``InvalidRequest`` naming it, never a bare OverflowError."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{name} must be an int, not {type(value).__name__}", provider=provider)
    if not 0 <= value <= maximum:
        raise InvalidRequest(f"{name} must be in 0..{maximum}, not {value}", provider=provider)
    return value


@dataclass(frozen=True)
class Budget:
    """A spending cap per provider account and period (calendar month by default, UTC).

    A call whose worst-case cost could cross ``units`` is refused with ``BudgetExceeded`` and
    nothing is sent. Crossing each fraction in ``alerts`` logs a warning on the ``seowire``
    logger and calls ``on_alert``.
    """

    units: int
    period: str = "month"
    alerts: Sequence[float] = (0.8, 0.95)
    on_alert: Callable[[BudgetAlert], None] | None = None

    def _repr_html_(self) -> str:
        alerts = ", ".join(f"{a:.0%}" for a in self.alerts) or "none"
        return (f"<div><b>seowire budget</b>: {self.units:,} units per {self.period}; alerts at {alerts}"
                f"{'; on_alert set' if self.on_alert else ''}</div>")

    def __post_init__(self) -> None:
        if isinstance(self.units, bool) or not isinstance(self.units, int) or not 0 <= self.units <= MAX_UNITS:
            raise InvalidRequest(f"budget units must be an int in 0..{MAX_UNITS}, not {self.units!r}")
        if self.period not in ("month", "day", "total"):
            raise InvalidRequest(f"budget period must be 'month', 'day' or 'total', not {self.period!r}")
        for a in self.alerts:
            if not (isinstance(a, (int, float)) and 0 < a <= 1):
                raise InvalidRequest(f"budget alerts are fractions in (0, 1], not {a!r}")
        object.__setattr__(self, "alerts", tuple(sorted(float(a) for a in self.alerts)))

    @classmethod
    def coerce(cls, value: Budget | int | None) -> Budget | None:
        if value is None or isinstance(value, Budget):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        raise InvalidRequest(f"budget must be an int (units per month) or a seowire.Budget, not {type(value).__name__}")

    def _spec(self) -> tuple[int, str, list[float]]:
        return (self.units, self.period, list(self.alerts))


_ledgers: dict[str, Any] = {}
_ledgers_pid = 0
_ledgers_lock = threading.Lock()


def resolve_ledger(ledger: Any) -> Any:
    """A Ledger object from a Ledger, a URL, or None (``SEOWIRE_LEDGER``, else the SQLite file).
    One Ledger per URL per process, so clients given the same URL share it."""
    global _ledgers_pid
    if isinstance(ledger, _seowire.Ledger):
        return ledger
    if ledger is not None and not isinstance(ledger, str):
        raise InvalidRequest(f"ledger must be a seowire.Ledger or a URL string, not {type(ledger).__name__}")
    url = ledger or os.environ.get("SEOWIRE_LEDGER") or "sqlite://"
    with _ledgers_lock:
        if _ledgers_pid != os.getpid():  # a forked child gets its own ledgers
            _ledgers.clear()
            _ledgers_pid = os.getpid()
        if url not in _ledgers:
            _ledgers[url] = _seowire.Ledger(url)
        return _ledgers[url]


class Client:
    """What every provider client shares: the account, the ledger, the budget, and settling a
    call's answer (wrapping rows with their cost and firing the budget alerts it crossed)."""

    provider: str
    _core: Any
    _budget: Budget | None

    @property
    def account(self) -> str:
        """A one-way hash of the credential: how the ledger names this account."""
        return str(self._core.account)

    @property
    def base_url(self) -> str:
        return str(self._core.base_url)

    @property
    def ledger(self) -> Any:
        return self._core.ledger

    @property
    def budget(self) -> Budget | None:
        return self._budget

    def __repr__(self) -> str:
        return f"{type(self).__name__}(account={self.account!r}, base_url={self.base_url!r})"

    @property
    def tag(self) -> str | None:
        """What the ledger's call log records as this client's ``tag`` (``ledger.usage(by="tag")``);
        None: the Airflow DAG/task a call runs in, else nothing. Settable."""
        return self.__dict__.get("_tag")

    @tag.setter
    def tag(self, value: str | None) -> None:
        if value is not None and (not isinstance(value, str) or len(value) > 200):
            raise InvalidRequest(f"tag must be a string of at most 200 characters or None, not {value!r}")
        self.__dict__["_tag"] = value
        for core in vars(self).values():
            if type(core).__module__ == "seowire._seowire" and type(core).__name__.endswith("Core"):
                core.set_tag(value)

    @contextlib.contextmanager
    def tagged(self, tag: str) -> Iterator[Any]:
        """``with client.tagged("backfill"): ...``: the calls made inside are logged with this tag,
        then the client's own tag is back. The tag is the client's while the block runs, so calls
        from other threads on the same client in that time carry it too."""
        before = self.tag
        self.tag = tag
        try:
            yield self
        finally:
            self.tag = before

    # Methods whose `stream=True` export() uses; anything else is exported through pages().
    _STREAMS: tuple[str, ...] = ()

    def export(self, endpoint: str, *args: Any, to: str | os.PathLike[str], format: str | None = None, **params: Any) -> dict[str, Any]:
        """Stream a paged report (through ``pages()``) or a bulk method (``url_metrics``,
        ``batch_analysis``: through ``stream=True``) to a Parquet, CSV or JSON-lines file, one
        batch in memory at a time, and return what it cost (``rows``, ``units``, ``requests``,
        ``cached_requests``). Parquet files carry the cost and the column types in their
        ``seowire`` metadata. The file appears only when the export is complete."""
        from . import export

        export.format_of(to, format)
        if endpoint in self._STREAMS:
            batches = getattr(self, endpoint)(*args, stream=True, output="arrow", **params)
        elif hasattr(self, "pages"):
            batches = self.pages(endpoint, *args, output="arrow", **params)
        else:
            raise InvalidRequest(f"{type(self).__name__} cannot export {endpoint!r}: export takes a paged report or one of {', '.join(self._STREAMS)}")
        return export.write(batches, to, format)

    def _settle(self, value: Any, meta: dict[str, Any], output: str = "dicts", names: list[str] | None = None,
                types: dict[str, str] | None = None) -> Any:
        if output != "dicts":
            settle(self._budget, self.account, [], meta)
            return frames.convert(value, output, meta, names, types)
        if isinstance(value, list):
            return settle(self._budget, self.account, value, meta)
        settle(self._budget, self.account, [], meta)  # fire alerts; single objects carry no cost fields
        return value


DAY = 86_400.0


def cache_ttl(cache: bool | float | None) -> float | None:
    """A client's ``cache=`` (True: 24 h, False/None: off, or seconds) as a TTL in seconds."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return DAY
    if isinstance(cache, (int, float)) and cache >= 0:
        return float(cache) or None
    raise InvalidRequest(f"cache must be True, False or a TTL in seconds, not {cache!r}")


def settle(budget: Budget | None, account: str, rows: Any, meta: dict[str, Any]) -> Rows:
    """Wrap a decoded page and fire the budget alerts its commit crossed."""
    result = Rows(rows, meta)
    alerts = meta.get("alerts") or ()
    if alerts and budget is not None:
        for threshold in alerts:
            alert = BudgetAlert(meta["provider"], account, threshold, meta.get("spent") or 0, budget.units)
            logger.warning(
                "%s budget alert: %.0f%% of %d units spent (%d) for account %s",
                alert.provider, threshold * 100, alert.budget, alert.spent, account,
            )
            if budget.on_alert is not None:
                try:
                    budget.on_alert(alert)
                except Exception:  # the data is paid for: never lose it to a callback bug
                    logger.exception("budget on_alert callback failed")
    return result


class Pages:
    """Report pages, for ``for`` and ``async for``; each page is a :class:`Rows` (or, with
    ``output=``, a frame)."""

    def __init__(self, stream: Any, client: Any, output: str = "dicts", progress: Any = None, total: int | None = None,
                 on_partial: str = "raise") -> None:
        if on_partial not in ("raise", "stop"):
            raise InvalidRequest(f"on_partial must be 'raise' or 'stop', not {on_partial!r}")
        self._stream = stream
        self._client = client
        self._output = output
        self._on_partial = on_partial
        self._partial: dict[str, Any] | None = None
        self._delivered = 0
        self._progress = _progress.start(progress, total, f"{client.provider} pages")

    def __iter__(self) -> Iterator[Any]:
        return self

    def _page(self, rows: Any, meta: dict[str, Any]) -> Any:
        self._progress.update(meta.get("lines") or len(rows), meta.get("units") or 0, 1)
        self._delivered += meta.get("lines") or len(rows)
        if meta.get("partial"):
            # The page is delivered (it was paid for); what follows it is not silence.
            self._partial = meta
        return self._client._settle(rows, meta, self._output)

    def _after_partial(self) -> None:
        meta, self._partial = self._partial, None
        self._progress.close()
        if meta is not None and self._on_partial == "raise":
            raise PartialResult(
                f"{meta.get('provider')} {meta.get('report')}: the unit balance ran out mid-paging after "
                f"{self._delivered} rows (the last page had {meta.get('lines')} of {meta.get('requested')}); "
                "the rows delivered were charged. Top up and resume from display_offset, or pass on_partial='stop'",
                provider=meta.get("provider"), delivered=self._delivered, meta=meta,
            )
        raise StopIteration

    def __next__(self) -> Any:
        if self._partial is not None:
            self._after_partial()
        try:
            rows, meta = next(self._stream)
        except BaseException:
            self._progress.close()
            raise
        return self._page(rows, meta)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if self._partial is not None:
            try:
                self._after_partial()
            except StopIteration:
                raise StopAsyncIteration from None
        try:
            rows, meta = await self._stream.__anext__()
        except BaseException:
            self._progress.close()
            raise
        return self._page(rows, meta)


class Batches:
    """The batches of a streaming bulk call (``stream=True``), for ``for`` and ``async for``:
    each a :class:`Rows` of dicts, or a frame with ``output=``, in input order, with
    ``batch_rows`` rows (the last one fewer). Only a window of requests and one batch are in
    memory at a time. ``meta`` sums what the whole stream has spent so far; each batch says
    what it cost (``Rows.units``, or the frame's seowire metadata) and ``first``, the input
    position of its first row."""

    def __init__(self, stream: Any, output: str = "dicts", progress: Any = None) -> None:
        self._stream = stream
        self._output = output
        self._progress = progress

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self._stream.meta)

    def _batch(self, rows: Any, meta: dict[str, Any]) -> Any:
        if self._output == "dicts":
            return Rows(rows, meta)
        return frames.convert(rows, self._output, meta)

    def _done(self) -> None:
        if self._progress is not None:
            self._progress.close()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            rows, meta = next(self._stream)
        except BaseException:
            self._done()
            raise
        return self._batch(rows, meta)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            rows, meta = await self._stream.__anext__()
        except BaseException:
            self._done()
            raise
        return self._batch(rows, meta)

    def __repr__(self) -> str:
        m = self._stream.meta
        return f"<Batches of {m['report']}: {m['lines']} rows, {m['units']} units so far>"


class RowStream:
    """Rows of a report across pages, for ``for`` and ``async for``."""

    def __init__(self, pages: Pages) -> None:
        self._pages = pages

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for page in self._pages:
            yield from page

    async def _agen(self) -> AsyncIterator[dict[str, Any]]:
        async for page in self._pages:
            for row in page:
                yield row

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._agen()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def checked(f: Callable[_P, _R]) -> Callable[_P, _R]:
    """A generated method whose wrong arguments (a misspelled or missing parameter) raise
    :class:`InvalidRequest` with a close match, like the core's own checks, instead of a bare
    ``TypeError``. The signature stays the method's own, for IDEs and type checkers."""

    def explain(args: Any, kwargs: Any, e: TypeError) -> BaseException:
        # Only now, on the error path: importing seowire builds no signatures.
        signature = inspect.signature(f)
        try:
            signature.bind(*args, **kwargs)
        except TypeError as wrong:
            known = [n for n in signature.parameters if n != "self"]
            return _argument_error(f.__name__, known, args, kwargs, wrong)
        return e

    # One sync wrapper for both kinds: calling an async method with wrong arguments raises at
    # the call, as a plain `async def` does, and the stubs keep the methods' own types.
    @functools.wraps(f)
    def method(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return f(*args, **kwargs)
        except TypeError as e:
            error = explain(args, kwargs, e)
            if error is e:
                raise
            raise error from None

    return method


def _argument_error(name: str, known: list[str], args: Any, kwargs: dict[str, Any], wrong: TypeError) -> InvalidRequest:
    unknown = [k for k in kwargs if k not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known)})."
        return InvalidRequest(f"{name}() takes no parameter '{unknown[0]}'{hint} Nothing was sent; the generic call "
                              "(get, report or call) with strict=False sends parameters the catalog does not know.")
    return InvalidRequest(f"{name}(): {wrong}. Nothing was sent.")
