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


def endpoints(provider: str) -> list[dict[str, Any]]:
    """Every endpoint of a provider, in the catalog's order."""
    return list(catalog(provider)["operations"])


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
        return f"{p['units']} per request"
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
    if provider == "moz":
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
        lines += ["| report | API | units | paging | required | default columns |", "|---|---|---|---|---|---|"]
        for op in ops:
            lines.append(f"| `{op['name']}` | {op['host']} | {price(op)} | {op['paging']} | "
                         f"{', '.join(required(provider, op)) or '-'} | {op['columns'] or '-'} |")
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
