"""The exceptions seowire raises. All derive from :class:`SeowireError`.

Every error carries ``provider``, ``status`` (HTTP status, if any), ``code`` (the provider's
error code, if any) and ``retryable``. Messages never contain an API key, token or secret.
"""

from __future__ import annotations

__all__ = [
    "SeowireError",
    "AuthenticationError",
    "InvalidRequest",
    "BudgetExceeded",
    "UnitsExhausted",
    "RateLimited",
    "PartialResult",
    "ProviderError",
    "ConflictError",
    "TransportError",
    "ResponseFormatError",
    "LedgerError",
    "LedgerUnavailable",
    "NotSupported",
    "InternalError",
    "BulkError",
    "ItemError",
    "MissingExtra",
]


class SeowireError(Exception):
    """Base class of every seowire error."""

    provider: str | None
    status: int | None
    code: str | None
    retryable: bool
    #: Seconds the server asked to wait (its ``Retry-After``, capped), if it said.
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.code = code
        self.retryable = retryable

    def __reduce__(self):  # keep the fields when pickled (multiprocessing, Airflow XCom)
        return (
            _rebuild,
            (type(self), str(self), self.provider, self.status, self.code, self.retryable, self.retry_after),
        )


def _rebuild(cls, message, provider, status, code, retryable, retry_after=None):
    error = cls(message, provider=provider, status=status, code=code, retryable=retryable)
    error.retry_after = retry_after
    return error


class AuthenticationError(SeowireError):
    """The provider refused the credentials (or none were given)."""


class InvalidRequest(SeowireError, ValueError):
    """The request is malformed; raised before anything is sent or reserved where possible."""


class BudgetExceeded(SeowireError):
    """Refused locally: the call could cross the budget. Nothing was sent."""


class UnitsExhausted(SeowireError):
    """The provider says the unit balance (or quota) is gone."""


class PartialResult(UnitsExhausted):
    """Paging stopped short: the unit balance ran out mid-report. The rows before it were
    delivered (and charged); ``delivered`` counts them. Iteration raises this by default rather
    than ending quietly; ``on_partial="stop"`` opts out."""

    delivered: int
    meta: dict

    def __init__(self, message: str, *, delivered: int = 0, meta: dict | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.delivered = delivered
        self.meta = meta if meta is not None else {}


class RateLimited(SeowireError):
    """Still throttled by the provider after the retries allowed."""


class ProviderError(SeowireError):
    """Any other error answer (4xx/5xx) from the provider."""


class ConflictError(ProviderError):
    """The resource already exists (SCIM 409, ``scimType`` uniqueness). ``existing`` is the user
    that holds the name, when it could be found."""

    existing: dict | None = None


class TransportError(SeowireError):
    """The connection failed, timed out or broke mid-answer."""


class ResponseFormatError(SeowireError):
    """The provider's answer could not be parsed."""


class LedgerError(SeowireError):
    """The unit ledger could not be read or written."""


class LedgerUnavailable(LedgerError):
    """The shared ledger (Redis) cannot be reached. Nothing was sent: no unit goes uncounted.
    ``Ledger(url, on_ledger_error="local")`` falls back to a local ledger instead."""


class NotSupported(SeowireError, NotImplementedError):
    """The provider offers no API for this operation."""


class BulkError(SeowireError):
    """Part of a fan-out (bulk ``url_metrics``, ``batch_analysis``) failed. Every request that
    was answered is committed; ``rows`` holds one entry per input (``None`` where no result
    arrived), ``failed`` the input positions to retry (answered ones come from the cache), and
    ``__cause__`` the first failure as its own class."""

    rows: list
    failed: list[int]
    meta: dict

    def __init__(self, message: str, *, rows: list | None = None, failed: list[int] | None = None, meta: dict | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.rows = rows if rows is not None else []
        self.failed = failed if failed is not None else []
        self.meta = meta if meta is not None else {}


class ItemError(ProviderError):
    """One item of a bulk answer that failed while the call as a whole succeeded (Moz
    ``errors_by_site`` / ``errors_by_query``). Returned in the item's place, never raised; it
    was not billed. ``key``/``value`` name the field Moz objected to; ``query`` is its echo."""

    name: str | None
    key: str | None
    value: object
    query: object

    def __init__(self, message: str, *, name: str | None = None, key: str | None = None, value: object = None,
                 query: object = None, **kw) -> None:
        super().__init__(message, **kw)
        self.name, self.key, self.value, self.query = name, key, value, query

    def __repr__(self) -> str:
        return f"ItemError({str(self)!r}, status={self.status!r}, code={self.code!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ItemError) and (str(self), self.status, self.code, self.key) == (str(other), other.status, other.code, other.key)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_entry(cls, entry: dict, method: str) -> ItemError:
        entry = entry if isinstance(entry, dict) else {}
        raw = entry.get("error")
        error: dict = raw if isinstance(raw, dict) else {}
        data: dict = error["data"] if isinstance(error.get("data"), dict) else {}
        status = error.get("httpStatus", error.get("status"))
        code = error.get("jsonrpcCode", error.get("code"))
        query = {k: v for k, v in entry.items() if k != "error"}
        return cls(
            f"Moz {method}: {error.get('name') or 'error'}: {error.get('message') or 'no message'}",
            provider="moz", status=status if isinstance(status, int) else None,
            code=str(code) if code is not None else None, name=error.get("name"),
            key=data.get("key"), value=data.get("value"), query=query or None,
        )

    def __reduce__(self):  # keep the item's fields when pickled
        return (_rebuild_item, (str(self), self.status, self.code, self.name, self.key, self.value, self.query))

    @classmethod
    def from_error(cls, method: str, message: str, status: int | None, code: str | None) -> ItemError:
        return cls(message, provider="moz", status=status, code=code, name="Error")

    @classmethod
    def missing(cls, method: str) -> ItemError:
        return cls(f"Moz {method} answered without a result or an error for this item", provider="moz", name="Missing")


def _rebuild_item(message, status, code, name, key, value, query):
    return ItemError(message, provider="moz", status=status, code=code, name=name, key=key, value=value, query=query)


class InternalError(SeowireError):
    """A bug in seowire, caught at its boundary (it names the provider and call). Nothing is
    returned that could be wrong; units already charged stay in the ledger."""


class MissingExtra(SeowireError, ImportError):
    """An optional library (pandas, polars, pyarrow, tqdm, Airflow) is needed but not installed;
    the message names the extra to install. Raised before any request is sent."""
