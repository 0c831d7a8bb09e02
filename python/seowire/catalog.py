"""The catalogs: every endpoint of every provider, described once, as the core validates them.

``endpoints("ahrefs")`` lists the 148 Ahrefs v3 operations (method, path, Python method name,
parameters, answer fields, pricing rule with its reference tag, paging kind); ``"semrush"`` and
``"moz"`` list their reports and endpoints the same way. ``seowire endpoints`` prints them and
``docs/reference/`` is generated from them (``python tools/gen_catalog.py --docs``).
"""

from __future__ import annotations

import json
from typing import Any

from . import _seowire

__all__ = ["PROVIDERS", "catalog", "endpoints", "reference_page"]

PROVIDERS = ("semrush", "moz", "ahrefs")


_LOADED: dict[str, dict[str, Any]] = {}


def catalog(provider: str) -> dict[str, Any]:
    """The whole catalog of a provider (the JSON the core compiles in)."""
    if provider not in _LOADED:
        _LOADED[provider] = json.loads(_seowire.catalog(provider))
    return _LOADED[provider]


def endpoints(provider: str, api: str | None = None) -> list[dict[str, Any]]:
    """Every endpoint of a provider, in the catalog's order; ``api=`` picks one of its APIs
    (SEMrush: ``analytics_v3``, ``v4``, ``trends``, ``projects``; Moz: ``jsonrpc``, ``links_v2``)."""
    ops = catalog(provider)["operations"]
    return [op for op in ops if api is None or op.get("api") == api]


_TYPES: dict[tuple[str, str], dict[str, str]] = {}


def field_types(method: str, path: str) -> dict[str, str]:
    """Field -> catalog type code of an Ahrefs operation's answer, for typed frames
    (``integer``, ``number``, ``boolean``, ``string``, ``date``, ``datetime``, ``array:<item>``, ``object``)."""
    key = (method, path)
    if key not in _TYPES:
        op = next((o for o in endpoints("ahrefs") if o["method"] == method and o["path"] == path), None)
        types = {}
        for name, f in (op or {}).get("fields", {}).items():
            ty = f.get("type", "string")
            if ty == "string" and f.get("format") in ("date", "date-time"):
                ty = "date" if f["format"] == "date" else "datetime"
            elif ty == "array":
                ty = f"array:{f.get('items') if isinstance(f.get('items'), str) else 'string'}"
            types[name] = ty
        _TYPES[key] = types
    return _TYPES[key]


# Moz's schema types every number as "number"; the reference says counts are 64-bit integers and
# names these as fractional (providers.md §1.2, providers-next.md §1.4 [C]; volume seen fractional).
_MOZ_FLOATS = {"link_propensity", "organic_ctr", "relevance", "score", "volume", "difficulty", "priority"}
_MOZ_COLUMNS: dict[str, tuple[list[str], dict[str, str]]] = {}


def moz_columns(method: str) -> tuple[list[str], dict[str, str]]:
    """Column names and catalog types of a Moz API list method's rows (of a one-object method:
    its result, as ``each()`` frames it): nested objects flattened
    into ``parent.child`` columns (``source_site_metrics.domain_authority``), counts as integers,
    dates as dates, lists as lists."""
    if method not in _MOZ_COLUMNS:
        op = next(o for o in endpoints("moz") if o.get("api") == "jsonrpc" and method in (o["method"], o["name"], *o["aliases"]))
        names: list[str] = []
        types: dict[str, str] = {}

        def walk(schema: dict[str, Any], prefix: str) -> None:
            for name, s in (schema.get("properties") or {}).items():
                col = f"{prefix}{name}"
                ty = s.get("type")
                if isinstance(ty, list):
                    ty = next((t for t in ty if t != "null"), "string")
                if ty == "object" and s.get("properties"):
                    walk(s, col + ".")
                    continue
                names.append(col)
                if ty == "number" or ty == "integer":
                    types[col] = "number" if name in _MOZ_FLOATS else "integer"
                elif ty == "boolean":
                    types[col] = "boolean"
                elif ty == "array":
                    item = (s.get("items") or {}).get("type")
                    types[col] = f"array:{'integer' if item in ('number', 'integer') else 'string'}" if item in ("number", "integer", "string") else "object"
                elif ty == "object":
                    types[col] = "object"
                elif name.startswith("date_") or name in ("last_crawled", "date"):
                    types[col] = "date"
                else:
                    types[col] = "string"

        rows = op.get("rows")
        # A list method's row, or a one-object method's whole result (each() gives a row per item).
        item = ((op["result"].get("properties") or {}).get(rows) or {}).get("items") or {} if rows else op["result"]
        walk(item, "")
        _MOZ_COLUMNS[method] = (names, types)
    return _MOZ_COLUMNS[method]


def links_columns(endpoint: str) -> tuple[list[str] | None, dict[str, str] | None]:
    """Column names and catalog types of a Links API v2 endpoint's rows (None: typed by the values)."""
    op = next((o for o in endpoints("moz") if o.get("api") == "links_v2" and o["name"] == endpoint), None)
    fields = (op or {}).get("fields")
    if not fields:
        return None, None
    return [name for name, _ in fields], dict(fields)


def flatten(row: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """A nested row as ``parent.child`` keys (the layout of :func:`moz_columns`)."""
    out = {} if out is None else out
    if not isinstance(row, dict):
        return out
    for k, v in row.items():
        if isinstance(v, dict) and v:
            flatten(v, f"{prefix}{k}.", out)
        else:
            out[f"{prefix}{k}"] = v
    return out


def price(op: dict[str, Any]) -> str:
    """An endpoint's unit rule in a few words."""
    p = op["pricing"]
    rule = p["rule"]
    if rule == "fields":
        return f"max({p['base']}, rows x field costs)"
    if rule == "fixed":
        return f"{p['units']} per request"
    if rule == "per_line":
        hist = f", {p['historical']} historical" if p.get("historical") else ""
        return f"{p['units']} per line{hist}"
    if rule == "per_request":
        return f"{p['units']} per request" + (f" ({p['note']})" if p.get("note") else "")
    if rule in ("per_keyword", "per_competitor", "per_snapshot"):
        return f"{p['units']:,} {rule.replace('_', ' ')}" + (f" (pass {p['asks']})" if p.get("asks") else "")
    if rule in ("per_source", "per_target") or (rule == "per_result" and "units" in p):
        return f"{p['units']} row(s) {rule.replace('_', ' ')}"
    pool = f" ({p['pool']} pool)" if p.get("pool") else ""
    n = p.get("multiplier", 1)
    if rule == "per_call":
        return f"{n} row per call{pool}"
    if rule == "per_result":
        return f"{n} row per result{pool}"
    if rule == "per_value":
        return f"{n} row per non-null value, at most {p.get('max_values')}{pool}"
    if rule == "dynamic":
        return f"1 row per result per target{pool}"
    return rule


def required(provider: str, op: dict[str, Any]) -> list[str]:
    if provider == "ahrefs":
        need = [n for n, s in op["params"].items() if s.get("required")]
        return need + [b for b in op.get("body_required", []) if b not in need]
    if provider == "moz" and op.get("api") == "jsonrpc":
        return list(op["data"].get("required") or [])
    if provider == "moz" or op.get("api", "analytics_v3") != "analytics_v3":
        return list(op["required"])
    return [t for t in [op["target"].lower()] if t != "none"] + (["database"] if op["database"] else [])


def reference_page(provider: str) -> str:
    """The Markdown reference page of a provider (docs/reference/<provider>.md)."""
    cat = catalog(provider)
    ops = cat["operations"]
    lines = [
        f"# {provider} endpoints",
        "",
        "Generated from the catalog by `python tools/gen_catalog.py --docs`; do not edit.",
        f"Source: {cat['source']}. {len(ops)} endpoints.",
        "",
    ]
    if provider == "ahrefs":
        lines += ["| Python method | HTTP | path | units | paging | required |", "|---|---|---|---|---|---|"]
        for op in ops:
            lines.append(f"| `{op['name']}` | {op['method']} | `{op['path']}` | {price(op)} [{op['pricing']['tag']}] | "
                         f"{op['paging']} | {', '.join(required(provider, op)) or '-'} |")
        lines += ["", "## Fields that cost more than 1 unit per row", ""]
        for op in ops:
            heavy = [f"`{f}` {s['units']}" for f, s in op["fields"].items() if s.get("units", 1) > 1]
            if heavy:
                lines.append(f"- `{op['method']} {op['path']}`: {', '.join(heavy)}")
    elif provider == "semrush":
        lines += ["## Analytics API v3", "", "| report | API | units | paging | required | default columns |", "|---|---|---|---|---|---|"]
        for op in ops:
            if op.get("api") == "analytics_v3":
                lines.append(f"| `{op['name']}` | {op['host']} | {price(op)} | {op['paging']} | "
                             f"{', '.join(required(provider, op)) or '-'} | {op['columns'] or '-'} |")
        lines += ["", "## API v4 (v4 key; prices [T], override with `v4_prices=`)", "",
                  "| Python method | path | units | paging | required |", "|---|---|---|---|---|"]
        for op in ops:
            if op.get("api") == "v4":
                lines.append(f"| `{op['name']}` | `{op['path']}` | {price(op)} [{op['pricing']['tag']}] | {op['paging']} | "
                             f"{', '.join(op['required']) or '-'} |")
        lines += ["", "## Trends API v3 (its own allowance)", "", "| Python method | report | units | paging | required |", "|---|---|---|---|---|"]
        for op in ops:
            if op.get("api") == "trends":
                lines.append(f"| `{op['name']}` | `{op['report']}` | {price(op)} | {op['paging']} | {', '.join(op['required']) or '-'} |")
        lines += ["", "## Projects APIs (Position Tracking, Site Audit)", "", "| method | path | units |", "|---|---|---|"]
        for op in ops:
            if op.get("api") == "projects":
                lines.append(f"| `{op['name']}` | `{op['path']}` | {price(op)} [{op['pricing']['tag']}] |")
    else:
        rpc = [op for op in ops if op.get("api") == "jsonrpc" and op["public"] and not op["enterprise_only"] or op.get("named")]
        lines += ["## Moz API (JSON-RPC)", "",
                  "Every public data method (the 32 Moz Local actions and the internal ones are callable with "
                  "`call(method, ...)` and listed by `seowire endpoints moz`).", "",
                  "| Python method | JSON-RPC method | rows charged | paging | rows list | required |", "|---|---|---|---|---|---|"]
        for op in rpc:
            lines.append(f"| `{op['name']}` | `{op['method']}` | {price(op)} [{op['pricing']['tag']}] | {op['paging']} | "
                         f"{op['rows'] or '-'} | {', '.join(required(provider, op)) or '-'} |")
        lines += ["", "## Links API v2", "", "| endpoint | rows charged | paging | parameters | required |", "|---|---|---|---|---|"]
        for op in ops:
            if op.get("api") != "links_v2":
                continue
            lines.append(f"| `{op['name']}` | {price(op)} | {op['paging']} | {', '.join(op['params']) or '-'} | "
                         f"{', '.join(op['required']) or '-'} |")
    return "\n".join(lines) + "\n"
