"""Enrich Spark DataFrames with provider data, the whole cluster within one plan.

Each function returns an :class:`Enrich`: a picklable callable for ``DataFrame.mapInArrow``
that adds typed metric columns to every row, plus the output schema Spark needs::

    from seowire.spark import ClientConfig, url_metrics

    config = ClientConfig("moz", token=..., plan="large", ledger="redis://ledger:6379/0", budget=200_000)
    enrich = url_metrics(config, column="url")
    enriched = df.mapInArrow(enrich, enrich.schema(df.schema))

Every executor process builds its own client from the config (once per process) and they all
share the ledger named there: with a Redis ledger the budget, the rate limit and the plan's
concurrency slots are the cluster's, not each executor's, so the cluster never has more
requests in flight than the plan allows, and a unit is never spent past the budget (the refusal
is raised to the driver with nothing sent past it). Answers go to the ledger's response cache
before rows are handed on, so a task that Spark retries does not pay twice.

The same callables work for Dask (``ddf.map_partitions(lambda pdf: enrich.pandas(pdf))``) and
Ray Data (``ds.map_batches(enrich.arrow_table, batch_format="pyarrow")``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from .exceptions import InvalidRequest

__all__ = ["ClientConfig", "Enrich", "url_metrics", "batch_analysis", "keyword_metrics"]

_SECRETS = ("api_key", "token", "access_id", "secret_key", "v4_key")
_CLIENTS: dict[tuple[int, Any], Any] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ClientConfig:
    """How an executor builds its client: the provider (``"moz"``, ``"ahrefs"``, ``"semrush"``)
    and the client's keyword arguments (keys, plan, base_url, ledger, budget, cache...). It is
    pickled to the executors, so it holds values only; its repr never shows a key."""

    provider: str
    options: dict[str, Any] = field(default_factory=dict)

    def __init__(self, provider: str, **options: Any) -> None:
        if provider not in ("moz", "ahrefs", "semrush"):
            raise InvalidRequest(f"ClientConfig provider must be moz, ahrefs or semrush, not {provider!r}")
        ledger = options.get("ledger")
        if ledger is not None and not isinstance(ledger, str):
            raise InvalidRequest("ClientConfig ledger must be a URL (redis://... to share it across executors), not a Ledger object")
        object.__setattr__(self, "provider", provider)
        object.__setattr__(self, "options", dict(options))

    def __repr__(self) -> str:
        shown = [f"{k}=***" if k in _SECRETS else f"{k}={v!r}" for k, v in self.options.items()]
        return f"ClientConfig({self.provider!r}, {', '.join(shown)})"

    def __hash__(self) -> int:
        return hash((self.provider, tuple(sorted((k, repr(v)) for k, v in self.options.items()))))

    def client(self) -> Any:
        """This process's client for the config (built once; rebuilt after ``fork``)."""
        import os

        key = (os.getpid(), hash(self))
        with _LOCK:
            c = _CLIENTS.get(key)
            if c is None:
                import seowire

                cls = {"moz": seowire.Moz, "ahrefs": seowire.Ahrefs, "semrush": seowire.Semrush}[self.provider]
                c = _CLIENTS[key] = cls(**self.options)
            return c


class Enrich:
    """A mapInArrow function: for each Arrow batch, the batch's columns followed by the
    metrics of the values in ``column``, one output row per input row, in order."""

    def __init__(self, config: ClientConfig, method: str, column: str, params: dict[str, Any], call: Callable[..., Any],
                 stream: Callable[..., Any] | None = None) -> None:
        self.config, self.method, self.column, self.params, self._call = config, method, column, params, call
        self._stream = stream

    def metrics_schema(self) -> Any:
        """The Arrow schema of the added columns (the catalog's types), without sending anything."""
        import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

        return pa.table(self._call(self.config.client(), [], **self.params)).schema.remove_metadata()

    def schema(self, input_schema: Any) -> Any:
        """The Spark schema of the output: ``input_schema`` (a StructType) plus the metrics."""
        from pyspark.sql.pandas.types import from_arrow_schema  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from pyspark.sql.types import StructType  # type: ignore[import-untyped, import-not-found, unused-ignore]

        metrics = from_arrow_schema(self.metrics_schema())
        clash = [f.name for f in metrics.fields if f.name in input_schema.fieldNames()]
        if clash:
            raise InvalidRequest(f"the input already has columns named like the metrics: {', '.join(clash)}; rename them first")
        return StructType(list(input_schema.fields) + list(metrics.fields))

    def arrow_table(self, table: Any) -> Any:
        """One Arrow table in, the same rows with the metrics out (Ray's ``map_batches``)."""
        import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

        if self.column not in table.column_names:
            raise InvalidRequest(f"the batch has no column {self.column!r} (it has {', '.join(table.column_names)})")
        values = table.column(self.column).to_pylist()
        if any(v is None for v in values):
            raise InvalidRequest(f"column {self.column!r} holds nulls: filter them out before enriching")
        metrics = pa.table(self._call(self.config.client(), values, **self.params)).replace_schema_metadata(None)
        metrics = metrics.cast(self.metrics_schema()) if values else metrics
        out = table
        for name in metrics.column_names:
            out = out.append_column(name, metrics.column(name))
        return out

    def pandas(self, frame: Any) -> Any:
        """One pandas DataFrame in, the same rows with the metrics out (Dask's ``map_partitions``)."""
        import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

        return self.arrow_table(pa.Table.from_pandas(frame, preserve_index=False)).to_pandas()

    def __call__(self, batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

        if self._stream is None:
            for batch in batches:
                yield from self.arrow_table(pa.Table.from_batches([batch])).to_batches()
            return
        yield from self._streamed(batches)

    def _streamed(self, batches: Iterable[Any]) -> Iterator[Any]:
        """A whole partition through one bulk stream: the next Arrow batch's values are read
        while the requests of this one are in flight, so the plan's slots never wait for a
        batch boundary. Metrics come back in input order and are joined to the rows they
        belong to; only the inputs not yet answered are held."""
        import collections

        import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

        schema = self.metrics_schema()
        waiting: collections.deque[Any] = collections.deque()  # input batches not yet joined

        def values() -> Iterator[Any]:
            for batch in batches:
                if self.column not in batch.schema.names:
                    raise InvalidRequest(f"the batch has no column {self.column!r} (it has {', '.join(batch.schema.names)})")
                column = batch.column(batch.schema.get_field_index(self.column))
                if column.null_count:
                    raise InvalidRequest(f"column {self.column!r} holds nulls: filter them out before enriching")
                waiting.append(batch)
                yield from column.to_pylist()

        stream = self._stream
        assert stream is not None
        for metrics in stream(self.config.client(), values(), **self.params):
            metrics = metrics.replace_schema_metadata(None).select(schema.names).cast(schema)
            done = 0
            while done < metrics.num_rows:
                rows = waiting[0]
                n = min(rows.num_rows, metrics.num_rows - done)
                part = metrics.slice(done, n)
                out = pa.Table.from_batches([rows.slice(0, n)])
                for name in part.column_names:
                    out = out.append_column(name, part.column(name))
                yield from out.combine_chunks().to_batches()
                done += n
                if n == rows.num_rows:
                    waiting.popleft()
                else:
                    waiting[0] = rows.slice(n)


def url_metrics(config: ClientConfig, column: str = "url", **params: Any) -> Enrich:
    """Moz ``url_metrics`` for the URLs or domains in ``column`` (requests of 50 at the plan's
    concurrency, shared by every executor through the config's ledger)."""
    if config.provider != "moz":
        raise InvalidRequest("url_metrics needs a ClientConfig('moz', ...)")
    return Enrich(config, "url_metrics", column, params, _url_metrics, _url_metrics_stream)


def batch_analysis(config: ClientConfig, column: str = "domain", *, select: list[str], **params: Any) -> Enrich:
    """Ahrefs ``batch_analysis`` (the ``select`` fields) for the targets in ``column``."""
    if config.provider != "ahrefs":
        raise InvalidRequest("batch_analysis needs a ClientConfig('ahrefs', ...)")
    return Enrich(config, "batch_analysis", column, {"select": list(select), **params}, _batch_analysis, _batch_analysis_stream)


def keyword_metrics(config: ClientConfig, column: str = "keyword", **params: Any) -> Enrich:
    """Moz API keyword metrics (``data.keyword.metrics.fetch``, one request per keyword at the
    plan's concurrency) for the keywords in ``column``."""
    if config.provider != "moz":
        raise InvalidRequest("keyword_metrics needs a ClientConfig('moz', ...)")
    return Enrich(config, "keyword_metrics", column, params, _keyword_metrics)


def _url_metrics(client: Any, values: list[Any], **params: Any) -> Any:
    return client.url_metrics(values, output="arrow", progress=False, **params)


# Rows per streamed metrics batch: small enough that Spark gets rows soon, large enough that
# the per-batch join costs nothing next to the requests.
_STREAM_ROWS = 2_000


def _url_metrics_stream(client: Any, values: Iterable[Any], **params: Any) -> Any:
    return client.url_metrics(values, output="arrow", progress=False, stream=True, batch_rows=_STREAM_ROWS, **params)


def _batch_analysis_stream(client: Any, values: Iterable[Any], **params: Any) -> Any:
    return client.batch_analysis(values, output="arrow", progress=False, stream=True, batch_rows=_STREAM_ROWS, **params)


def _batch_analysis(client: Any, values: list[Any], **params: Any) -> Any:
    return client.batch_analysis(values, output="arrow", progress=False, **params)


def _keyword_metrics(client: Any, values: list[Any], **params: Any) -> Any:
    return client.each("data.keyword.metrics.fetch", values, output="arrow", progress=False, **params)
