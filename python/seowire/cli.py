"""The ``seowire`` command."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), (int, float)) for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def demo(args: argparse.Namespace) -> int:
    """Keyword gap between two domains, on the embedded emulator: no key, no units spent."""
    import seowire
    from seowire.testing import Emulator

    ours, rival, db = args.domain, args.competitor, args.database
    with Emulator() as emu:
        sr = seowire.Semrush("demo-key", base_url=emu.base_url("semrush"), ledger="memory://", budget=args.budget)
        start = sr.balance()
        print(f"seowire {seowire.__version__} demo: keyword gap, {rival} vs {ours} ({db} database), on the offline emulator\n")
        estimate = sr.estimate("domain_organic", domain=ours, database=db, display_limit=args.rows) * 2
        print(f"Worst case for both reports: {estimate:,} units (reserved before sending, committed per line received)")
        mine = sr.domain_organic(ours, database=db, display_limit=args.rows)
        theirs = sr.domain_organic(rival, database=db, display_limit=args.rows)
        have = {r["keyword"] for r in mine}
        best: dict[str, dict[str, Any]] = {}
        for r in theirs:
            if r["keyword"] not in have and r["position"] <= 20:
                if r["keyword"] not in best or r["position"] < best[r["keyword"]]["position"]:
                    best[r["keyword"]] = r
        gap = sorted(best.values(), key=lambda r: r["search_volume"], reverse=True)
        print(f"{ours}: {len(mine)} keywords ({mine.units:,} units); {rival}: {len(theirs)} keywords ({theirs.units:,} units)\n")
        print(f"Top {min(args.top, len(gap))} of {len(gap)} keywords where {rival} ranks in the top 20 and {ours} does not:\n")
        print(_table(gap[: args.top], ["keyword", "position", "search_volume", "cpc", "competition"]))
        spent = mine.units + theirs.units
        left = sr.balance()
        usage = sr.ledger.usage()[0]
        print(f"\nUnits: {spent:,} spent (ledger: {usage['spent']:,} committed, {usage['reserved']} reserved); "
              f"balance {start:,} -> {left:,}; emulator charged {emu.stats()['units_charged']:,}")
    return 0


_PROVIDERS = ("semrush", "moz", "ahrefs")
# Parameters that take several values, written comma-separated on the command line.
_LISTS = {"select", "targets", "domains", "sources", "filter", "export_columns", "order_by", "keywords", "positive_targets",
          "negative_targets", "daily_history_deltas", "daily_history_values", "monthly_history_deltas",
          "monthly_history_values", "subdomains_limited_to_one"}


def _value(key: str, text: str) -> Any:
    import json

    if text[:1] in "{[":
        return json.loads(text)
    if key in _LISTS:
        return [t for t in text.split(",") if t]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def _params(pairs: Sequence[str]) -> dict[str, Any]:
    from seowire.exceptions import InvalidRequest

    out = {}
    for p in pairs:
        key, sep, text = p.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"parameters are key=value, not {p!r}")
        out[key] = _value(key, text)
    return out


def _client(provider: str) -> Any:
    """A client for ``provider`` with credentials and base URL from the environment."""
    import seowire

    return {"semrush": seowire.Semrush, "moz": seowire.Moz, "ahrefs": seowire.Ahrefs}[provider]()


def balance(args: argparse.Namespace) -> int:
    """Units left (SEMrush), rows used this month (Moz) or key usage (Ahrefs); free calls."""
    c = _client(args.provider)
    if args.provider == "semrush":
        print(f"{c.balance():,} units left")
    elif args.provider == "moz":
        from seowire.moz import POOLS

        for pool in POOLS:  # quota.lookup per pool (free); Moz sends no remaining: allotted - used
            q = c.quota(pool)
            print(f"{pool}: {q['used']:,} of {q['allotted']:,} rows used, {q['remaining']:,} left (resets {q.get('reset')})")
    else:
        lu = c.limits_and_usage()
        cap = lu.get("units_limit_api_key")
        print(f"{lu.get('units_usage_api_key', 0):,} units used by this key" + (f" of {cap:,}" if cap is not None else " (no per-key cap)"))
    return 0


def usage(args: argparse.Namespace) -> int:
    """The ledger (``SEOWIRE_LEDGER`` or the default SQLite file) as a table."""
    import seowire

    ledger = seowire.Ledger(args.ledger) if args.ledger else seowire.Ledger()
    if args.by:
        spent = ledger.usage(by=args.by, since=args.since)
        if not spent:
            print(f"no calls in the ledger's log{' since ' + args.since if args.since else ''}")
            return 0
        first = ["provider", "report"] if args.by == "report" else [args.by]
        print(_table(spent, first + ["requests", "cached", "estimated", "spent", "rows"]))
        return 0
    rows = ledger.usage()
    if not rows:
        print("the ledger is empty")
        return 0
    print(_table(rows, ["provider", "account", "period", "spent", "reserved", "requests", "budget", "remaining", "drift"]))
    return 0


def _nested(params: dict[str, Any]) -> dict[str, Any]:
    """``options.sort=rank`` as ``{"options": {"sort": "rank"}}`` (Moz API data objects)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        where = out
        *parents, leaf = key.split(".")
        for p in parents:
            where = where.setdefault(p, {})
        where[leaf] = value
    return out


def _moz_api_method(name: str) -> dict[str, Any] | None:
    """The Moz API method a CLI name means: dotted, hyphenated or the Python method name."""
    from seowire import catalog

    dotted = name.replace("-", ".")
    return next((o for o in catalog.endpoints("moz") if o.get("api") == "jsonrpc"
                 and (o["method"] == dotted or o["name"] == name or name in o["aliases"])), None)


def _call_name(provider: str, report: str) -> str:
    return report.replace("-", "_") if provider != "ahrefs" else report


def estimate(args: argparse.Namespace) -> int:
    """Worst-case units of a call, computed offline (no request, no credentials needed)."""
    import seowire

    params = _params(args.params)
    c: Any
    if args.provider == "semrush":
        c = seowire.Semrush("offline", ledger="memory://")
    elif args.provider == "moz":
        c = seowire.Moz("offline", ledger="memory://")
        op = _moz_api_method(args.report)
        if op is not None:
            print(f"{c.estimate(op['method'], _nested(params)):,} rows at most")
            return 0
    else:
        c = seowire.Ahrefs("offline", ledger="memory://")
    units = c.estimate(_call_name(args.provider, args.report), **params)
    print(f"{units:,} {'rows' if args.provider == 'moz' else 'units'} at most")
    return 0


def _rows(provider: str, report: str, params: dict[str, Any]) -> Any:
    """Rows of a call, streamed page by page where the provider pages."""
    c = _client(provider)
    if provider == "semrush":
        limit = params.pop("display_limit", None)  # on the command line: how many rows in all
        return c.rows(report, max_rows=limit, page_size=min(limit or 10_000, 10_000), **params)
    op = _moz_api_method(report) if provider == "moz" else None
    if op is not None:
        # The Moz API: paged methods stream their rows (limit= caps the total), others print the result.
        data = _nested(params)
        report = op["method"]
        if op["paging"] != "none":
            return c.rows(report, data=data, max_rows=data.pop("limit", None))
        out = c.call(report, data)
        if op.get("rows") and isinstance(out.get(op["rows"]), list):
            return out[op["rows"]]
        return [out]
    if provider == "moz":
        if report == "url_metrics":
            return c.url_metrics(params.pop("targets", []), **params)
        paged = report in _MOZ_PAGED
        if paged and "limit" not in params:
            return c.rows(report, **params)
        out = c.call(report, **params)
        return out if isinstance(out, list) else [out]
    if "/" in report:
        out = c.get(report, **params)
    else:
        method = getattr(type(c), report.replace("-", "_"), None)
        if not callable(method) or report.startswith("_"):
            from seowire.exceptions import InvalidRequest

            raise InvalidRequest(f"no Ahrefs method {report!r}: use a method name (all_backlinks) or a path (site-explorer/all-backlinks)")
        out = method(c, **params)
    return out if isinstance(out, list) else [out]


def _export(provider: str, report: str, params: dict[str, Any], to: str) -> int:
    """`get ... --output FILE`: the call streamed into a Parquet, CSV or JSON-lines file."""
    from seowire import export, frames

    export.format_of(to)
    c = _client(provider)
    if provider == "moz" and report == "url_metrics":
        out = c.export("url_metrics", params.pop("targets", []), to=to, **params)
    elif provider == "semrush":
        limit = params.pop("display_limit", None)
        out = c.export(report, to=to, max_rows=limit, page_size=min(limit or 10_000, 10_000), **params)
    elif provider == "moz" and _moz_api_method(report) is None and report in _MOZ_PAGED and "limit" not in params:
        out = c.export(report, to=to, **params)
    else:
        rows = list(_rows(provider, report, params))
        out = export.write([frames.convert(rows, "arrow", getattr(rows, "__dict__", None) or _meta(rows))], to)
    print(f"wrote {out['rows']} rows to {out['path']} ({out['units']} units, {out['requests']} requests)")
    return 0


def _meta(rows: Any) -> dict[str, Any]:
    return {k: getattr(rows, k) for k in ("provider", "report", "units", "requests") if hasattr(rows, k)}


_MOZ_PAGED = ("links", "anchor_text", "global_top_pages", "global_top_root_domains", "link_intersect", "linking_root_domains", "top_pages")


def get(args: argparse.Namespace) -> int:
    """Run a call and print its rows as a table, CSV, JSON or JSON lines (streamed)."""
    import csv
    import json

    if args.output:
        return _export(args.provider, args.report, _params(args.params), args.output)
    rows = _rows(args.provider, args.report, _params(args.params))
    if args.format == "jsonl":
        for r in rows:
            print(json.dumps(r, default=str), flush=False)
        return 0
    if args.format == "csv":
        writer = None
        for r in rows:
            if writer is None:
                writer = csv.DictWriter(sys.stdout, fieldnames=list(r), extrasaction="ignore")
                writer.writeheader()
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()})
        return 0
    collected = list(rows)
    if args.format == "json":
        print(json.dumps(collected, default=str, indent=2))
    elif collected:
        print(_table(collected, list(collected[0])))
    else:
        print("no rows")
    return 0


def load(args: argparse.Namespace) -> int:
    """Load one provider resource into a dlt destination (``--to duckdb:///seo.duckdb`` by default), once per period."""
    import dlt

    import seowire.dlt as sources
    from seowire.exceptions import InvalidRequest

    params = _params(args.params)
    for key in ("domains", "keywords", "targets"):
        if key in params and not isinstance(params[key], list):
            params[key] = [params[key]]
    if args.to.startswith("duckdb:///"):
        destination: Any = dlt.destinations.duckdb(args.to[len("duckdb:///"):])
    elif "://" in args.to:
        raise InvalidRequest(f"--to takes duckdb:///path/file.duckdb or a dlt destination name, not {args.to!r}")
    else:
        destination = args.to
    make = {"semrush": sources.semrush_source, "moz": sources.moz_source, "ahrefs": sources.ahrefs_source}[args.provider]
    # The pipeline first: the source reads its state (what is loaded) when it is made.
    pipeline = dlt.pipeline(args.pipeline or f"seowire_{args.provider}", destination=destination, dataset_name=args.dataset)
    source = make(_client(args.provider), resources=[args.resource], period=args.period, budget=args.budget, **params)
    info = pipeline.run(source)
    print(f"loaded {args.provider} {args.resource} into {args.to} (dataset {args.dataset}); {len(info.loads_ids)} load(s)")
    return 0


def doctor(args: argparse.Namespace) -> int:
    """Check every configured provider, the ledger and the clock without spending a unit (exit 1 if anything is wrong)."""
    import json

    from seowire.doctor import doctor as run

    report = run()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_table(report["checks"], ["provider", "check", "status", "detail"]))
        print("all good" if report["ok"] else "something is wrong: see the rows marked fail")
    return 0 if report["ok"] else 1


def endpoints(args: argparse.Namespace) -> int:
    """List a provider's endpoints (or all three providers') from the catalog, with their prices."""
    from seowire import catalog

    providers = [args.provider] if args.provider else list(catalog.PROVIDERS)
    for i, provider in enumerate(providers):
        ops = catalog.endpoints(provider)
        if args.filter:
            ops = [op for op in ops if args.filter in op.get("path", op.get("method", op["name"])) or args.filter in op["name"]]
        rows = []
        for op in ops:
            row = {"provider": provider, "name": op["name"], "units": catalog.price(op), "paging": op["paging"],
                   "required": ", ".join(catalog.required(provider, op)) or "-"}
            if provider == "ahrefs":
                row["endpoint"] = f"{op['method']} {op['path']}"
            elif provider == "moz":
                row["endpoint"] = op["method"] if op.get("api") == "jsonrpc" else f"Links v2 {op['name']}"
            else:
                api = op.get("api", "analytics_v3")
                row["endpoint"] = {"analytics_v3": "Analytics v3", "v4": f"v4 {op.get('path', '')}",
                                   "trends": f"Trends {op.get('report', '')}", "projects": f"Projects {op.get('path', '')}"}[api]
            rows.append(row)
        if args.format == "json":
            import json

            print(json.dumps(rows, indent=2))
            continue
        if i:
            print()
        print(f"{provider}: {len(rows)} endpoints")
        columns = ["name", "endpoint", "units", "paging", "required"]
        print(_table(rows, columns))
    return 0


def emulator(args: argparse.Namespace) -> int:
    """Serve the emulator on 127.0.0.1 until interrupted."""
    from seowire.testing import _serve

    return _serve(["serve", "--port", str(args.port)] + (["--config", args.config] if args.config else []))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seowire", description="seowire: SEMrush, Ahrefs and Moz from one client.")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="an offline keyword-gap analysis on the embedded emulator")
    d.add_argument("--domain", default="ourshop.com")
    d.add_argument("--competitor", default="rival.com")
    d.add_argument("--database", default="us")
    d.add_argument("--rows", type=int, default=500, help="rows of each domain_organic report")
    d.add_argument("--top", type=int, default=15)
    d.add_argument("--budget", type=int, default=20_000, help="unit budget for the demo account")
    d.set_defaults(run=demo)

    b = sub.add_parser("balance", help=balance.__doc__, description=balance.__doc__)
    b.add_argument("provider", choices=_PROVIDERS)
    b.set_defaults(run=balance)

    u = sub.add_parser("usage", help=usage.__doc__, description=usage.__doc__)
    u.add_argument("--ledger", default=None, help="ledger URL (default: SEOWIRE_LEDGER or the SQLite file)")
    u.add_argument("--by", choices=("day", "report", "tag", "provider", "account"), default=None,
                   help="spending from the call log, summed per day, report, tag, provider or account")
    u.add_argument("--since", default=None, help="with --by: only calls since then (24h, 30d, 2w, ...)")
    u.set_defaults(run=usage)

    e = sub.add_parser("estimate", help=estimate.__doc__, description=estimate.__doc__)
    e.add_argument("provider", choices=_PROVIDERS)
    e.add_argument("report", help="SEMrush report type, Moz endpoint, or Ahrefs method/path")
    e.add_argument("params", nargs="*", metavar="key=value")
    e.set_defaults(run=estimate)

    g = sub.add_parser("get", help=get.__doc__, description=get.__doc__)
    g.add_argument("provider", choices=_PROVIDERS)
    g.add_argument("report", help="SEMrush report type, Moz endpoint, or Ahrefs path (site-explorer/domain-rating)")
    g.add_argument("params", nargs="*", metavar="key=value", help="lists comma-separated; JSON for where")
    g.add_argument("--format", choices=("table", "csv", "json", "jsonl"), default="table")
    g.add_argument("--output", default=None, metavar="FILE",
                   help="stream the rows into FILE (.parquet, .csv or .jsonl) instead of printing them")
    g.set_defaults(run=get)

    ld = sub.add_parser("load", help=load.__doc__, description=load.__doc__)
    ld.add_argument("provider", choices=_PROVIDERS)
    ld.add_argument("resource", help="a resource of seowire.dlt (domain_organic, url_metrics, refdomains, ...)")
    ld.add_argument("params", nargs="*", metavar="key=value", help="domains=, keywords=, targets= (comma-separated) and the calls' parameters")
    ld.add_argument("--to", default="duckdb:///seo.duckdb", help="duckdb:///path.duckdb or a dlt destination name")
    ld.add_argument("--dataset", default="seo_data")
    ld.add_argument("--pipeline", default=None, help="the dlt pipeline name (default seowire_<provider>)")
    ld.add_argument("--period", choices=("day", "week", "month"), default="month")
    ld.add_argument("--budget", type=int, default=None, help="refuse the run if its estimate could cross this many units")
    ld.set_defaults(run=load)

    dr = sub.add_parser("doctor", help=doctor.__doc__, description=doctor.__doc__)
    dr.add_argument("--json", action="store_true", help="print the checks as JSON")
    dr.set_defaults(run=doctor)

    en = sub.add_parser("endpoints", help=endpoints.__doc__, description=endpoints.__doc__)
    en.add_argument("provider", nargs="?", choices=_PROVIDERS)
    en.add_argument("--filter", default=None, help="only endpoints whose name or path contains this")
    en.add_argument("--format", choices=("table", "json"), default="table")
    en.set_defaults(run=endpoints)

    em = sub.add_parser("emulator", help="the offline emulator", description="Run the seowire emulator.")
    emsub = em.add_subparsers(dest="action", required=True)
    serve = emsub.add_parser("serve", help=emulator.__doc__, description=emulator.__doc__)
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument("--config", default=None, help="emulator settings as JSON")
    serve.set_defaults(run=emulator)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except Exception as e:  # errors on stderr, never a secret (messages are redacted)
        from seowire.exceptions import SeowireError

        if isinstance(e, SeowireError):
            print(f"seowire: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
