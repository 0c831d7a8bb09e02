"""dlt sources for SEMrush, Moz and Ahrefs (extra ``seowire[dlt]``).

Each source takes a configured client, so keys, base URL, ledger, budget and cache come from it,
and every request goes through it (retries, limits, the shared ledger, the response cache)::

    import dlt, seowire
    from seowire.dlt import semrush_source

    sr = seowire.Semrush()
    pipeline = dlt.pipeline("seo", destination="duckdb")   # first: the source reads the pipeline's state
    pipeline.run(semrush_source(sr, resources=["domain_organic"], domains=["a.com", "b.com"], database="us", budget=50_000))

Resources are named after the client's methods. Rows are Arrow tables typed by the catalog,
with the call's subject (``target``), a ``snapshot_date`` (the first day of the period) and
``rank`` (the row's place in the answer); the primary key is ``(target, snapshot_date, rank)``
and the write disposition ``merge``. The source's state remembers which (resource, target)
snapshots are loaded, so a scheduled run loads each period once and a rerun in the same period
spends nothing. State is committed with the load: a run that fails (a 5xx, a reset, a budget)
loads nothing of that run, and the rerun pays only for what had not been answered (the cache).
Before anything is sent the whole run is estimated; with ``budget=`` a run that could cross it
is refused, naming the estimate and the budget. What each call cost goes to the
``seowire_costs`` table of the same load.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from .exceptions import BudgetExceeded, InvalidRequest, MissingExtra

_dlt: Any
try:
    import dlt as _dlt  # type: ignore[import-untyped, import-not-found, unused-ignore, no-redef]
except ImportError:  # pragma: no cover - the extra is missing
    _dlt = None

__all__ = ["semrush_source", "moz_source", "ahrefs_source", "RESOURCES", "snapshot_of"]


@dataclass(frozen=True)
class _Resource:
    """How a resource calls the client for one subject, and estimates that call."""

    subjects: str  # the source argument listing the subjects (domains, keywords, targets)
    call: Callable[[Any, Any, dict[str, Any]], Any]
    estimate: Callable[[Any, Any, dict[str, Any]], int]
    batch: bool = False  # one call for all subjects (url_metrics, trends summary)


def _arrow(out: Any) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

    return pa.table(out).replace_schema_metadata(None)


def _method(method: str, subjects: str, subject: str, report: str | None = None, **fixed: Any) -> _Resource:
    """A resource that calls ``client.<method>(subject, output="arrow")`` once per subject and
    estimates it as ``client.estimate(report, <subject>=...)``."""
    return _Resource(subjects, lambda c, s, p: getattr(c, method)(s, output="arrow", **p),
                     lambda c, s, p: c.estimate(report or method, **{subject: s}, **fixed, **p))


RESOURCES: dict[str, dict[str, _Resource]] = {
    "semrush": {
        "domain_organic": _method("domain_organic", "domains", "domain"),
        "keyword_overview": _method("phrase_this", "keywords", "phrase"),
        "backlinks_overview": _method("backlinks_overview", "targets", "target", target_type="root_domain"),
        "backlinks_refdomains": _method("backlinks_refdomains", "targets", "target", target_type="root_domain"),
        # Trends (its own allowance): one call for up to 200 targets, 1 unit per target with data.
        "trends_summary": _Resource("targets", lambda c, s, p: c.trends_summary(list(s), output="arrow", **p),
                                    lambda c, s, p: len(s), batch=True),
    },
    "moz": {
        "url_metrics": _Resource("targets", lambda c, s, p: c.url_metrics(s, output="arrow", progress=False, **p),
                                 lambda c, s, p: c.estimate("url_metrics", targets=list(s), **p), batch=True),
        "linking_root_domains": _method("linking_root_domains", "targets", "target"),
        "keyword_metrics": _Resource("keywords", lambda c, s, p: c.each("data.keyword.metrics.fetch", [s], output="arrow", progress=False, **p),
                                     lambda c, s, p: c.estimate("data.keyword.metrics.fetch", serp_query=s, **p)),
    },
    "ahrefs": {name: _method(name, "targets", "target") for name in ("domain_rating_history", "refdomains", "organic_keywords", "all_backlinks")},
}


def snapshot_of(period: str, today: _dt.date | None = None) -> _dt.date:
    """The snapshot date of ``period`` (``"day"``, ``"week"``, ``"month"``) containing ``today``."""
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    if period == "day":
        return today
    if period == "week":
        return today - _dt.timedelta(days=today.weekday())
    if period == "month":
        return today.replace(day=1)
    raise InvalidRequest(f"period must be 'day', 'week' or 'month', not {period!r}")


def _source(provider: str, client: Any, resources: Sequence[str] | None, period: str, snapshot_date: _dt.date | None,
            budget: int | None, subjects: dict[str, list[Any]], params: dict[str, Any]) -> Any:
    if _dlt is None:
        raise MissingExtra("seowire.dlt needs dlt, which is not installed: pip install 'seowire[dlt]'")
    table = RESOURCES[provider]
    names = list(resources) if resources is not None else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise InvalidRequest(f"no {provider} resource {', '.join(map(repr, unknown))}: one of {', '.join(table)}", provider=provider)
    for name in names:
        need = table[name].subjects
        if not subjects.get(need):
            raise InvalidRequest(f"resource {name!r} needs {need}= (a list)", provider=provider)
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
        raise InvalidRequest(f"budget must be a number of units, not {budget!r}", provider=provider)
    snapshot = snapshot_date or snapshot_of(period)
    label = snapshot.isoformat()

    @_dlt.source(name=f"seowire_{provider}")
    def source() -> Any:
        state = _dlt.current.source_state().setdefault("seowire_loaded", {})
        # What this run will call: (resource, subject) pairs not loaded for this snapshot yet.
        todo: dict[str, list[Any]] = {}
        for name in names:
            spec = table[name]
            pending = [s for s in subjects[spec.subjects] if state.get(name, {}).get(_key(s)) != label]
            todo[name] = pending
        estimate = 0
        for name, pending in todo.items():
            spec = table[name]
            if not pending:
                continue
            if spec.batch:
                estimate += int(spec.estimate(client, pending, params))
            else:
                estimate += sum(int(spec.estimate(client, s, params)) for s in pending)
        if budget is not None and estimate > budget:
            raise BudgetExceeded(f"this {provider} run could cost {estimate:,} units, over its budget of {budget:,}: nothing was sent")
        return [_resource(name, table[name], todo[name], state, label, client, params) for name in names]

    return source()


def _key(subject: Any) -> str:
    return subject if isinstance(subject, str) else repr(subject)


def _resource(name: str, spec: _Resource, pending: list[Any], state: dict[str, Any], label: str, client: Any, params: dict[str, Any]) -> Any:
    @_dlt.resource(name=name, primary_key=["target", "snapshot_date", "rank"], write_disposition="merge")
    def rows() -> Iterator[Any]:
        import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

        groups = [pending] if spec.batch else [[s] for s in pending]
        for group in groups:
            if not group:
                continue
            out = spec.call(client, group if spec.batch else group[0], params)
            t = _arrow(out)
            cost = out.schema.metadata.get(b"seowire") if getattr(out, "schema", None) is not None and out.schema.metadata else None
            n = t.num_rows
            if spec.batch:
                # One row per target: in input order (url_metrics) or naming its target (Trends).
                if "target" not in t.column_names and n != len(group):
                    from .exceptions import ResponseFormatError

                    raise ResponseFormatError(f"{name} answered {n} rows for {len(group)} targets and names none of them")
                targets = None if "target" in t.column_names else pa.array([_key(s) for s in group], pa.string())
                rank = pa.array([0] * n, pa.int64())
            else:
                targets = pa.array([_key(group[0])] * n, pa.string())
                rank = pa.array(range(n), pa.int64())
            if targets is not None:
                t = t.append_column("target", targets)
            t = t.append_column("snapshot_date", pa.array([_dt.date.fromisoformat(label)] * n, pa.date32()))
            t = t.append_column("rank", rank)
            if n:
                yield t
            import json

            spent = json.loads(cost) if cost else {}
            yield _dlt.mark.with_hints(
                {"snapshot_date": label, "resource": name, "targets": len(group), "rows": n,
                 "units": int(spent.get("units") or 0), "cached": bool(spent.get("cached")),
                 "loaded_at": _dt.datetime.now(_dt.timezone.utc).isoformat()},
                _dlt.mark.make_hints(table_name="seowire_costs", write_disposition="append", primary_key=[]),
                create_table_variant=True,
            )
            loaded = _dlt.current.source_state().setdefault("seowire_loaded", {}).setdefault(name, {})
            for s in group:
                loaded[_key(s)] = label

    return rows


def semrush_source(client: Any, resources: Sequence[str] | None = None, *, domains: Sequence[str] = (), keywords: Sequence[str] = (),
                   targets: Sequence[str] = (), period: str = "month", snapshot_date: _dt.date | None = None, budget: int | None = None,
                   **params: Any) -> Any:
    """SEMrush resources: ``domain_organic`` (``domains=``), ``keyword_overview`` (``keywords=``),
    ``backlinks_overview``, ``backlinks_refdomains`` and ``trends_summary`` (``targets=``; Trends'
    own allowance); ``params`` go to every call (``database="us"``, ``display_limit=``)."""
    return _source("semrush", client, resources, period, snapshot_date, budget,
                   {"domains": list(domains), "keywords": list(keywords), "targets": list(targets)}, params)


def moz_source(client: Any, resources: Sequence[str] | None = None, *, targets: Sequence[str] = (), keywords: Sequence[str] = (),
               period: str = "month", snapshot_date: _dt.date | None = None, budget: int | None = None, **params: Any) -> Any:
    """Moz resources: ``url_metrics`` and ``linking_root_domains`` (``targets=``), ``keyword_metrics`` (``keywords=``)."""
    return _source("moz", client, resources, period, snapshot_date, budget, {"targets": list(targets), "keywords": list(keywords)}, params)


def ahrefs_source(client: Any, resources: Sequence[str] | None = None, *, targets: Sequence[str] = (), period: str = "month",
                  snapshot_date: _dt.date | None = None, budget: int | None = None, **params: Any) -> Any:
    """Ahrefs resources (``targets=``): ``domain_rating_history`` (``date_from=``), ``refdomains``,
    ``organic_keywords``, ``all_backlinks`` (``select=`` and the other parameters go to every call)."""
    return _source("ahrefs", client, resources, period, snapshot_date, budget, {"targets": list(targets)}, params)
