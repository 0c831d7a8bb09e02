"""The Moz API (JSON-RPC) catalog and the Python methods that follow from it (used by gen_catalog.py).

Source: ``../shared/reference/moz-api-methods.json`` (74 actions from Moz's own method schema:
fields with types and enums, result shapes, quota rules). What the schema lacks but the reference
text states (providers-next.md §1: bounds, paging kinds, the 4xx rule, quota pools) is added here,
each fact with its tag, so there is one copy of it: the catalog the Rust core compiles in.
"""

from __future__ import annotations

import keyword
import textwrap
from typing import Any

# Python method names: stable, and distinct from the Links API v2 methods on the same client.
NAMES = {
    "data.site.metrics.fetch": "site_metrics",
    "data.site.metrics.fetch.multiple": "site_metrics_multiple",
    "data.site.metrics.histories.fetch": "site_metric_histories",
    "data.site.metrics.distributions.fetch": "site_metric_distributions",
    "data.site.metrics.brand.authority.fetch": "brand_authority",
    "data.site.link.list": "site_links",
    "data.site.link.filter.anchor.text": "links_with_anchor_text",
    "data.site.link.filter.domain": "links_from_domain",
    "data.site.link.intersect.fetch": "link_intersects",
    "data.site.link.status.fetch": "link_exists",
    "data.site.link.status.fetch.multiple": "link_exists_multiple",
    "data.site.linking.domain.list": "linking_domains",
    "data.site.linking.domain.filter.recently.gained": "linking_domains_gained",
    "data.site.linking.domain.filter.recently.lost": "linking_domains_lost",
    "data.site.anchor.text.list": "anchor_texts",
    "data.site.top.page.list": "site_top_pages",
    "data.site.redirect.fetch": "redirect_destination",
    "data.site.ranking.keyword.list": "ranking_keywords",
    "data.site.ranking.keyword.count": "ranking_keyword_count",
    "data.global.top.domain.list": "top_ranking_domains",
    "data.global.top.page.list": "top_ranking_pages",
    "data.keyword.metrics.fetch": "keyword_metrics",
    "data.keyword.metrics.volume.fetch": "keyword_volume",
    "data.keyword.metrics.difficulty.fetch": "keyword_difficulty",
    "data.keyword.metrics.opportunity.fetch": "keyword_opportunity",
    "data.keyword.metrics.priority.fetch": "keyword_priority",
    "data.keyword.search.intent.fetch": "search_intent",
    "data.keyword.suggestions.list": "keyword_suggestions",
    "quota.lookup": "quota_lookup",
    "metadata.index.fetch": "index_id",
    "beta.data.site.metrics.brand.authority.fetch": "beta_brand_authority",
}
# Named methods written by hand (bulk: chunked, matched back to input order).
HAND = {"data.site.metrics.fetch.multiple", "data.site.link.status.fetch.multiple"}
# Options whose name collides with the subject's own parameters get a clearer Python name.
RENAMED = {("options", "scope"): "source_scope", ("options", "filter"): "page_filter"}
SUBJECTS = {
    "site_query": "site",
    "target_query": "target",
    "serp_query": "keyword",
    "target_site_query": "target",
    "is_linking_to": "is_linking_to",
    "site_queries": "sites",
    "queries": "queries",
    "path": "path",
}
# Required top-level fields other than the subject, by their Python names.
SECOND = {"source_site_query": "source", "domain_site_query": "domain"}

POOLS = {
    "api.limits.data.rows": "data",
    "api.limits.beta.rows": "beta",
    "api.limits.mozscape.rows": "mozscape",
}

OFFSET_LIMIT = [1, 50]
# page.limit bounds: ranking keywords say 1..500 [C MOZSCHEMA docs]; the others publish no maximum,
# so seowire keeps them to 1..500 too [I] (a setting: strict=False sends any limit).
PAGE_LIMIT = {"data.site.ranking.keyword.list": ([1, 500], "C MOZDOCS"), "*": ([1, 500], "I")}


def strip(schema: Any) -> Any:
    """The schema without descriptions and titles (facts only)."""
    if isinstance(schema, dict):
        return {k: strip(v) for k, v in schema.items() if k not in ("description", "title", "examples", "example")}
    if isinstance(schema, list):
        return [strip(v) for v in schema]
    return schema


def paging_of(data: dict[str, Any]) -> str:
    props = data.get("properties") or {}
    if "offset" in props:
        return "offset"
    if "page" in props:
        return "page"
    return "none"


def rows_key(m: dict[str, Any]) -> str | None:
    """The list a method's result carries its rows in (None: one object)."""
    props = (m.get("result") or {}).get("properties") or {}
    lists = [k for k, v in props.items() if v.get("type") == "array" and k not in ("is_linking_to", "not_linking_to")]
    for preferred in ("results_by_site", "results_by_query"):
        if preferred in lists:
            return preferred
    return lists[0] if len(lists) == 1 else None


def pricing_of(m: dict[str, Any]) -> dict[str, Any]:
    q = m["quota"]
    out: dict[str, Any] = {"rule": q["type"], "tag": "C MOZSCHEMA"}
    if q.get("path"):
        out["path"] = q["path"]
        out["pool"] = POOLS.get(q["path"], q["path"].split(".")[1] if q["path"].startswith("search.") else q["path"])
    for k in ("per_call_multiplier", "per_result_multiplier", "per_value_multiplier"):
        if k in q:
            out["multiplier"] = q[k]
    if "max_values" in q:
        out["max_values"] = q["max_values"]
    if q["type"] == "dynamic" and m["method"] == "data.site.link.intersect.fetch":
        out["dynamic"] = "results_x_targets"
        out["dynamic_tag"] = "C MOZSCHEMA quota note"
    out["note"] = m.get("quota_note") or ""
    return out


def build_moz(spec: dict[str, Any]) -> dict[str, Any]:
    ops = []
    for m in spec["methods"]:
        method = m["method"]
        data = strip(m["data"])
        paging = paging_of(data)
        entry: dict[str, Any] = {
            "method": method,
            "name": NAMES.get(method) or method.replace(".", "_"),
            "aliases": sorted({a for a in (m.get("doc_name"),) if a and a != method}),
            "title": m.get("title") or "",
            "description": m.get("description") or "",
            "public": bool(m["public"]),
            "enterprise_only": bool(m.get("enterprise_only")),
            "named": method in NAMES,
            "data": data,
            "result": strip(m["result"]),
            "result_keys": m["result_keys"],
            "rows": rows_key(m),
            "paging": paging,
            "pricing": pricing_of(m),
        }
        if paging == "offset":
            entry["limit"] = {"bounds": OFFSET_LIMIT, "default": 25, "tag": "C MOZSCHEMA offset"}
        elif paging == "page":
            bounds, tag = PAGE_LIMIT.get(method, PAGE_LIMIT["*"])
            default = (((data["properties"]["page"].get("properties") or {}).get("limit") or {}).get("default")) or 50
            entry["limit"] = {"bounds": bounds, "default": default, "tag": tag}
        ops.append(entry)
    facts = {
        "endpoint": {"value": "https://api.moz.com/jsonrpc", "tag": "C MOZDOCS getting-started"},
        "auth_header": {"value": "x-moz-token", "tag": "C MOZDOCS getting-started"},
        "min_id_length": {"value": 24, "tag": "T MOZEV probe"},
        "keyword_length": {"value": [1, 255], "tag": "C MOZSCHEMA SerpQuery"},
        "query_length": {"value": [1, 2048], "tag": "I"},
        "max_intersect_targets": {"value": 6, "tag": "C MOZSCHEMA link.intersect"},
        "filters_need_external": {"value": True, "tag": "C MOZSCHEMA link filters"},
        "pools": {"value": {"data": "api.limits.data.rows", "beta": "api.limits.beta.rows", "mozscape": "api.limits.mozscape.rows"}, "tag": "C MOZSCHEMA quota"},
        "penalty": {
            "value": {"errors": 50, "window_seconds": 300, "throttled_requests": 50, "lift_after_seconds": 30},
            "tag": "C MOZDOCS error-handling",
        },
        "rate_headers": {"value": False, "tag": "T MOZEV probe"},
        "multiple_max": {"value": None, "tag": "Open: not published"},
        "default_limit_offset": {"value": 25, "tag": "C MOZSCHEMA"},
    }
    return {"source": spec["source"], "facts": facts, "operations": ops}


# ---------------------------------------------------------------------------------------------
# Python methods


def py_type(schema: dict[str, Any]) -> str:
    ty = schema.get("type")
    if isinstance(ty, list):
        ty = next((t for t in ty if t != "null"), "string")
    if "const" in schema:
        return f"Literal[{schema['const']!r}]"
    values = schema.get("enum")
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        return "Literal[" + ", ".join(repr(v) for v in values) + "]"
    if ty in ("number", "integer"):
        return "int"
    if ty == "boolean":
        return "bool"
    if ty == "array":
        item = schema.get("items") or {}
        if item.get("type") == "object":
            return "Sequence[str | Mapping[str, Any]]"
        return f"Sequence[{py_type(item)}]"
    if ty == "object":
        return "Mapping[str, Any]"
    return "str"


def arg(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) else name


def cost_text(op: dict[str, Any]) -> str:
    p = op["pricing"]
    pool = p.get("pool", "data")
    rule = p["rule"]
    if rule == "free":
        return f"Rows: none, free [{p['tag']}]."
    n = p.get("multiplier", 1)
    if rule == "per_call":
        return f"Rows: {n} per successful call from the {pool} pool [{p['tag']}]."
    if rule == "per_result":
        return f"Rows: {n} per result returned, from the {pool} pool; the worst case (limit) is reserved [{p['tag']}]."
    if rule == "per_value":
        return (f"Rows: {n} per non-null value returned, at most {p.get('max_values')}, from the {pool} pool; "
                f"the maximum is reserved [{p['tag']}].")
    return (f"Rows: one per result for each target in is_linking_to and not_linking_to, from the {pool} pool "
            f"[{p['tag']}].")


def method_source(op: dict[str, Any]) -> str:
    props = op["data"].get("properties") or {}
    required = set(op["data"].get("required") or [])
    subject = next((s for s in SUBJECTS if s in props), None)
    args: list[str] = []
    # (python name, where it goes: ("top", key) or (container, key))
    routes: list[tuple[str, str, str]] = []
    if subject:
        s = props[subject]
        if s.get("type") == "object" and "query" in (s.get("properties") or {}):
            t = "str | Mapping[str, Any]"
        elif s.get("type") == "object" and "keyword" in (s.get("properties") or {}):
            t = "str | Mapping[str, Any]"
        else:
            t = py_type(s)
        args.append(f"{SUBJECTS[subject]}: {t}")
        routes.append((SUBJECTS[subject], "", subject))
    args.append("*")
    for key, s in props.items():
        if key == subject:
            continue
        if key in ("offset", "page"):
            continue
        if key == "options" and s.get("type") == "object":
            for ok, os in (s.get("properties") or {}).items():
                name = RENAMED.get(("options", ok), ok)
                args.append(f"{arg(name)}: {py_type(os)} | None = None")
                routes.append((name, "options", ok))
            continue
        name = SECOND.get(key, key)
        t = "str | Mapping[str, Any]" if s.get("type") == "object" and "query" in (s.get("properties") or {}) else py_type(s)
        container = ""
        if key in required:
            if "null" in (s.get("type") if isinstance(s.get("type"), list) else []):
                t += " | None"
                container = "="  # a required field whose null means something: sent as null
            args.insert(args.index("*"), f"{arg(name)}: {t}")
        else:
            args.append(f"{arg(name)}: {t} | None = None")
        routes.append((name, container, key))
    if op["paging"] == "offset":
        args += ["limit: int | None = None", "token: str | None = None"]
        routes += [("limit", "offset", "limit"), ("token", "offset", "token")]
    elif op["paging"] == "page":
        args += ["limit: int | None = None", "page: int | None = None"]
        routes += [("limit", "page", "limit"), ("page", "page", "n")]
    if op["rows"]:
        args.append('output: Output = "dicts"')
    args += ["cache: bool | None = None", "strict: bool | None = None"]
    # With output= a list method returns a frame, so its type is only known at run time.
    returns = "Any" if op["rows"] else "dict[str, Any]"
    text = [op["description"].strip() or op["title"], cost_text(op)]
    if op["paging"] == "offset":
        text.append(f"Pages with offset.token (limit 1..50, default 25); pages()/rows() follow them.")
    elif op["paging"] == "page":
        text.append(f"Pages with page.n (default limit {op['limit']['default']}); pages()/rows() follow them.")
    if op["rows"]:
        text.append(f"Returns the result object; output= a frame of its ``{op['rows']}``.")
    text.append("Fields are checked against Moz's method schema before anything is sent.")
    body_lines = textwrap.wrap(" ".join(text), 96, break_on_hyphens=False)
    sig = ",\n        ".join(["self"] + args)
    docstring = f"Moz API ``{op['method']}``.\n\n        " + "\n        ".join(body_lines)
    route_text = "(" + ", ".join(f"({n!r}, {c!r}, {k!r})" for n, c, k in routes) + ("," if len(routes) == 1 else "") + ")"
    out_arg = ", output=output" if op["rows"] else ""
    call = f'self._rpc("{op["method"]}", _routed(locals(), {route_text}){out_arg})'
    name = op["name"]
    return (
        f"    @checked\n    def {name}(\n        {sig},\n    ) -> {returns}:\n"
        f'        """{docstring}\n        """\n'
        f"        result: {returns} = {call}\n"
        f"        return result\n\n"
        f"    @checked\n    async def {name}_async(\n        {sig},\n    ) -> {returns}:\n"
        f'        """Async :meth:`{name}`."""\n'
        f"        result: {returns} = await {call.replace('self._rpc(', 'self._rpc_async(')}\n"
        f"        return result\n"
    )


HEADER = '''"""Generated by tools/gen_catalog.py from catalog/moz.json: do not edit.

One sync and one async method per public Moz API (JSON-RPC) data method, typed from Moz's method
schema. Each builds the method's ``data`` object and passes it to the core, which validates it
against the same catalog and prices the call in rows of the method's quota pool.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Sequence

from ._common import checked
from .frames import Output

__all__ = ["MozMethods"]


def _routed(args: dict[str, Any], routes: tuple[tuple[str, str, str], ...]) -> dict[str, Any]:
    """The method's ``data`` from the arguments given (None: left out), nested as Moz nests them."""
    data: dict[str, Any] = {}
    for name, container, key in routes:
        value = args.get(name, args.get(name + "_"))
        if container == "=":
            data[key] = value
            continue
        if value is None:
            continue
        if container:
            data.setdefault(container, {})[key] = value
        else:
            data[key] = value
    for flag in ("cache", "strict"):
        if args.get(flag) is not None:
            data["_" + flag] = args[flag]
    return data


class MozMethods:
    """The methods of every public Moz API data method (mixed into :class:`seowire.Moz`)."""

    def _rpc(self, method: str, data: dict[str, Any], output: Output = "dicts") -> Any:
        raise NotImplementedError

    async def _rpc_async(self, method: str, data: dict[str, Any], output: Output = "dicts") -> Any:
        raise NotImplementedError

'''


def moz_methods(catalog: dict[str, Any]) -> str:
    parts = [HEADER]
    for op in catalog["operations"]:
        if not op["named"] or op["method"] in HAND:
            continue
        parts.append(method_source(op))
        parts.append("\n")
    return "".join(parts).rstrip("\n") + "\n"
