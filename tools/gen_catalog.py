"""Build the Ahrefs catalog and the Python methods that follow from it.

    python tools/gen_catalog.py            # write catalog/{ahrefs,moz}.json and python/seowire/_{ahrefs_reports,moz_methods}.py
    python tools/gen_catalog.py --check    # exit 1 if either is not what the generator writes
    python tools/gen_catalog.py --docs     # also docs/reference/<provider>.md (needs the built module)

The catalog (``catalog/ahrefs.json``) is the one description of every Ahrefs operation that the
Rust core compiles in: method, path, parameters (type, format, default, required, enum), the
answer's key and fields (type, nullability, unit cost), the request body, and what the spec
lacks but the references state (pricing rule, paging kind, each with its tag). Enums shared by
several parameters are stored once under "enums" and named with "@".

``python/seowire/_ahrefs_reports.py`` holds one sync and one async method per operation, typed
from the catalog; ``tests/test_catalog.py`` checks that both files are current and agree with
the spec copy in ``../shared/reference/ahrefs-v3-operations.json``.
"""

from __future__ import annotations

import json
import keyword
import pathlib
import sys
import textwrap
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT.parent / "shared" / "reference" / "ahrefs-v3-operations.json"
CATALOG = ROOT / "catalog" / "ahrefs.json"
METHODS = ROOT / "python" / "seowire" / "_ahrefs_reports.py"
MOZ_SPEC = ROOT.parent / "shared" / "reference" / "moz-api-methods.json"
MOZ_CATALOG = ROOT / "catalog" / "moz.json"
MOZ_METHODS = ROOT / "python" / "seowire" / "_moz_methods.py"

# Facts the spec lacks, from providers.md §2 (tags as there).
BASE_COST = 50
FREE_FAMILIES = ["rank-tracker/", "management/", "public/", "gsc/", "web-analytics/", "social-media/", "subscription-info/"]
FREE_PATHS = ["site-audit/projects"]
FIXED = {"site-audit/issues": 50, "site-audit/page-explorer": 50, "site-audit/page-content": 50}
# Names that predate the catalog and stay stable; the rest follow the rule in `name_of`.
NAMES = {
    "site-explorer/domain-rating": "domain_rating",
    "keywords-explorer/overview": "keywords_overview",
    "site-audit/issues": "site_audit_issues",
    "site-audit/page-explorer": "page_explorer",
    "rank-tracker/overview": "rank_tracker_overview",
    "subscription-info/limits-and-usage": "limits_and_usage",
    "batch-analysis/batch-analysis": "batch_analysis",
    "serp-overview/serp-overview": "serp_overview",
}
# Operations whose Python method is written by hand (batch_analysis fans out in requests of 100).
HAND = {("POST", "batch-analysis/batch-analysis")}
# The parameter a method takes first, positionally.
SUBJECTS = ("keywords", "keyword", "target", "project_id")


def name_of(method: str, path: str) -> str:
    tool, rest = path.split("/", 1)
    if path in NAMES:
        name = NAMES[path]
    elif tool in ("site-explorer", "keywords-explorer"):
        name = rest.replace("-", "_")
    else:
        name = f"{tool}_{rest}".replace("-", "_")
    if method != "GET" and path != "batch-analysis/batch-analysis":
        name = f"{method.lower()}_{name}"
    return name


def pricing_of(path: str) -> dict[str, Any]:
    if path in FIXED:
        return {"rule": "fixed", "units": FIXED[path], "tag": "C AHOAS"}
    if path in FREE_PATHS or any(path.startswith(f) for f in FREE_FAMILIES):
        return {"rule": "free", "tag": "C AHOAS descriptions"}
    return {"rule": "fields", "base": BASE_COST, "tag": "C AHOAS limits-consumption"}


def build(spec: dict[str, Any]) -> dict[str, Any]:
    enums: dict[str, list[str]] = {}
    names: dict[tuple[str, ...], str] = {}

    def enum_ref(param: str, values: list[str]) -> str | list[str]:
        if len(values) < 8:
            return values
        key = tuple(values)
        if key not in names:
            name = f"@{param}" if f"@{param}" not in enums else f"@{param}_{len(enums)}"
            names[key] = name
            enums[name] = values
        return names[key]

    ops = []
    for op in spec["operations"]:
        path = op["path"].lstrip("/")
        params = {}
        for p in op["params"]:
            entry = {k: p[k] for k in ("type", "format", "default") if k in p}
            if p.get("required"):
                entry["required"] = True
            if "enum" in p:
                entry["enum"] = enum_ref(p["name"], p["enum"])
            if "fields" in p:
                entry["fields"] = p["fields"]
            params[p["name"]] = entry
        response = op.get("response") or {}
        fields = {}
        for name, f in (response.get("fields") or {}).items():
            fields[name] = {k: f[k] for k in ("type", "format", "items", "nullable", "units") if k in f}
        entry = {
            "name": name_of(op["method"], path),
            "method": op["method"],
            "path": path,
            "params": params,
            "key": response.get("key"),
            "list": bool(response.get("list")),
            "fields": fields,
            "pricing": pricing_of(path),
            "paging": "offset" if "offset" in params else "none",
        }
        if "body" in op:
            body = {}
            for name, b in op["body"].items():
                if name == "_required":
                    continue
                e = {k: b[k] for k in ("type", "items", "default") if k in b}
                if "enum" in b:
                    e["enum"] = enum_ref(name, b["enum"])
                body[name] = e
            entry["body"] = body
            entry["body_required"] = op["body"].get("_required", [])
        ops.append(entry)
    facts = {
        "base_cost": {"value": BASE_COST, "tag": "C AHOAS limits-consumption"},
        "free_families": {"value": FREE_FAMILIES + FREE_PATHS, "tag": "C AHOAS descriptions"},
        "default_limit": {"value": 1000, "tag": "C AHOAS"},
        "plan_rows": {"value": {"lite": 100, "standard": 250, "advanced": 500, "enterprise": None}, "tag": "T AHEV plans"},
    }
    return {"source": spec["source"], "facts": facts, "enums": enums, "operations": ops}


# ---------------------------------------------------------------------------------------------
# Python methods


def py_type(spec: dict[str, Any], enums: dict[str, list[str]], name: str) -> str:
    if name in ("select", "order_by", "keywords"):
        return "Sequence[str] | str"
    if name == "where":
        return "Mapping[str, Any]"
    ty = spec.get("type")
    if ty == "integer":
        return "int"
    if ty == "boolean":
        return "bool"
    if ty == "array":
        return "Sequence[Any]"
    if ty == "object":
        return "Mapping[str, Any]"
    if spec.get("format") == "date":
        return "str | _dt.date"
    values = spec.get("enum")
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        return "Literal[" + ", ".join(repr(v) for v in values) + "]"
    return "str"


def arg_name(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) else name


def cost_text(op: dict[str, Any]) -> str:
    p = op["pricing"]
    if p["rule"] == "fixed":
        return f"Units: {p['units']} per request, whatever the fields [{p['tag']}]."
    if p["rule"] == "free":
        return (f"Units: none, a free family [{p['tag']}]; {BASE_COST} are reserved until the cost header "
                "says what was charged.")
    heavy = sorted(((f, s["units"]) for f, s in op["fields"].items() if s.get("units", 1) > 1), key=lambda x: (-x[1], x[0]))
    rows = "rows" if op["list"] else "1 row"
    text = f"Units: max({p['base']}, {rows} x the per-row cost of the distinct fields in select, where and order_by)"
    if heavy:
        shown = ", ".join(f"{f} {u}" for f, u in heavy[:8]) + (", ..." if len(heavy) > 8 else "")
        text += f"; 1 per field except {shown}"
    return text + f" [{p['tag']}]."


def method_source(op: dict[str, Any], enums: dict[str, list[str]]) -> str:
    name, method, path = op["name"], op["method"], op["path"]
    params = {k: v for k, v in op["params"].items() if k != "output"}
    body = {k: v for k, v in (op.get("body") or {}).items() if k not in params and k != "output"}
    body_required = set(op.get("body_required") or [])
    subject = next((s for s in SUBJECTS if s in params and method == "GET"), None)
    # A single-object report answers every field without select; dated site-explorer reports default to today.
    optional_anyway = {"select"} if not op["list"] else set()
    if path.startswith("site-explorer/"):
        optional_anyway.add("date")

    def required(n: str, spec: dict[str, Any], in_body: bool) -> bool:
        need = n in body_required if in_body else bool(spec.get("required"))
        return need and n not in optional_anyway

    args: list[str] = []
    if subject:
        t = py_type(params[subject], enums, subject)
        args.append(f"{subject}: {t}" if required(subject, params[subject], False) else f"{subject}: {t} | None = None")
    args.append("*")
    items = [(n, s, False) for n, s in params.items() if n != subject] + [(n, s, True) for n, s in body.items()]
    items.sort(key=lambda x: not required(x[0], x[1], x[2]))  # required first, then the spec's order
    for n, s, in_body in items:
        t = py_type(s, enums, n)
        a = arg_name(n)
        args.append(f"{a}: {t}" if required(n, s, in_body) else f"{a}: {t} | None = None")
    if method != "GET":
        args.append("json: Mapping[str, Any] | None = None")
    args += ['output: Output = "dicts"', "cache: bool | None = None", "strict: bool | None = None"]
    returns = "Rows" if op["list"] else "dict[str, Any]"
    what = f"the ``{op['key']}`` list" if op["list"] else f"one ``{op['key']}`` object"
    need = [n for n, s, b in [(subject, params[subject], False)] + items if n and required(n, s, b)] if subject else [
        n for n, s, b in items if required(n, s, b)]
    text = [cost_text(op)]
    if need:
        text.append("Required: " + ", ".join(need) + ".")
    if op["paging"] == "offset":
        text.append("Pages with limit and offset.")
    text.append("Parameters and fields are checked against the v3 spec before anything is sent.")
    body_lines = textwrap.wrap(" ".join(text), 100, break_on_hyphens=False)
    sig = ",\n        ".join(["self"] + args)
    docstring = f"{method} {path}: {what}.\n\n        " + "\n        ".join(body_lines)
    call = f'self._call("{method}", "{path}", _given(locals()))'
    return (
        f"    @checked\n    def {name}(\n        {sig},\n    ) -> {returns}:\n"
        f'        """{docstring}\n        """\n'
        f"        result: {returns} = {call}\n"
        f"        return result\n\n"
        f"    @checked\n    async def {name}_async(\n        {sig},\n    ) -> {returns}:\n"
        f'        """Async :meth:`{name}`."""\n'
        f"        result: {returns} = await {call.replace('_call(', '_call_async(')}\n"
        f"        return result\n"
    )


HEADER = '''"""Generated by tools/gen_catalog.py from catalog/ahrefs.json: do not edit.

One sync and one async method per Ahrefs API v3 operation, typed from the spec. Each passes its
arguments to the core, which validates them against the same catalog and prices the call.
"""

from __future__ import annotations

import datetime as _dt
import keyword
from typing import Any, Literal, Mapping, Sequence

from ._common import Rows, checked
from .frames import Output

__all__ = ["AhrefsReports"]


def _given(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments a caller gave (None: left out), named as the API names them."""
    args.pop("self", None)
    return {(k[:-1] if keyword.iskeyword(k[:-1]) else k): v for k, v in args.items() if v is not None}


class AhrefsReports:
    """The methods of every catalog operation (mixed into :class:`seowire.Ahrefs`)."""

    def _call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def _call_async(self, method: str, path: str, params: dict[str, Any]) -> Any:
        raise NotImplementedError

'''


def methods(catalog: dict[str, Any]) -> str:
    parts = [HEADER]
    for op in catalog["operations"]:
        if (op["method"], op["path"]) in HAND:
            continue
        parts.append(method_source(op, catalog["enums"]))
        parts.append("\n")
    return "".join(parts).rstrip("\n") + "\n"


SEMRUSH_METHODS = ROOT / "python" / "seowire" / "_semrush_reports.py"

SEMRUSH_HEADER = '''"""Generated by tools/gen_catalog.py from the SEMrush report table: do not edit.

One sync and one async method per SEMrush report, with the report's subject and database as its
parameters and its price in its docstring. Each calls ``report(type, ...)``, which validates and
prices the call in the core from the same table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ._common import Rows

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .semrush import ReportOptions

__all__ = ["SemrushReports"]


class SemrushReports:
    """The methods of every SEMrush report (mixed into :class:`seowire.Semrush`)."""

    def report(self, type: str, **params: Any) -> Any:
        raise NotImplementedError

    async def report_async(self, type: str, **params: Any) -> Any:
        raise NotImplementedError

'''

# The subject parameter of each target kind: (python name, type, how it is passed).
SEMRUSH_SUBJECTS = {
    "Domain": ("domain", "str", "domain=domain"),
    "Domains": ("domains", "str", "domains=domains"),
    "Phrase": ("phrase", "str", "phrase=phrase"),
    "Url": ("url", "str", "url=url"),
    "Backlinks": ("target", "str", "target=target, target_type=target_type"),
}


def semrush_methods(ops: list[dict[str, Any]]) -> str:
    parts = [SEMRUSH_HEADER]
    for op in ops:
        name, target, lines = op["name"], op["target"], op["lines"]
        args, passed, prelude = ["self"], [f'"{name}"'], ""
        if target == "Phrase" and lines == "Phrases":
            args.append("phrases: Sequence[str] | str")
            prelude = "        phrase = [phrases] if isinstance(phrases, str) else list(phrases)\n"
            passed.append("phrase=phrase")
        elif target in SEMRUSH_SUBJECTS:
            subject, ty, how = SEMRUSH_SUBJECTS[target]
            args.append(f"{subject}: {ty}")
            passed.append(how)
        if target == "Backlinks" or op["database"]:
            args.append("*")
        if target == "Backlinks":
            args.append('target_type: str = "root_domain"')
        if op["database"]:
            args.append("database: str")
            passed.append("database=database")
        args.append("**options: Unpack[ReportOptions]")
        passed.append("**options")
        p = op["pricing"]
        unit = "per request" if p["rule"] == "per_request" else "per line"
        price = f"{p['units']} units {unit}"
        if p.get("historical"):
            price += f", {p['historical']} with a past display_date"
        need = [a.split(":")[0] for a in args[1:] if ":" in a and "=" not in a and not a.startswith("**")]
        doc = f"SEMrush {op['host']} report ``{name}``: {price} [{p['tag']}]."
        more = " Required: " + ", ".join(need) + "." if need else ""
        if op["paging"] == "offset":
            more += " Pages with display_offset (see pages())."
        body_lines = textwrap.wrap(doc + more, 92, break_on_hyphens=False)
        docstring = "\n        ".join(body_lines)
        if len(body_lines) > 1:
            docstring += "\n        "
        sig = ", ".join(args)
        call = f"self.report({', '.join(passed)})"
        parts.append(
            f"    def {name}({sig}) -> Rows:\n"
            f'        """{docstring}"""\n'
            f"{prelude}"
            f"        result: Rows = {call}\n"
            f"        return result\n\n"
            f"    async def {name}_async({sig}) -> Rows:\n"
            f'        """Async :meth:`{name}`."""\n'
            f"{prelude}"
            f"        result: Rows = await {call.replace('self.report(', 'self.report_async(')}\n"
            f"        return result\n\n"
        )
    return "".join(parts).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# Moz Links API v2 and SEMrush v4 / Trends: methods from the core's tables (seowire.catalog)

MOZ_LINKS_METHODS = ROOT / "python" / "seowire" / "_moz_links.py"
SEMRUSH_API_METHODS = ROOT / "python" / "seowire" / "_semrush_api.py"
# Written by hand: url_metrics takes any number of targets (requests of 50, stream=True).
LINKS_HAND = {"url_metrics"}


def param_type(ty: str, scopes: list[str]) -> str:
    """The Python type of a table's parameter type code (Links v2 and SEMrush v4)."""
    return {
        "string": "str",
        "scope": "Literal[" + ", ".join(json.dumps(s) for s in scopes) + "]",
        "filter": "str | Sequence[str]",
        "fields": "Sequence[str] | str",
        "array:string": "Sequence[str]",
        "integer": "int",
        "boolean": "bool",
        "targets": "Sequence[str | Mapping[str, str]]",
        "date": "str | _dt.date",
        "unix": "int | _dt.datetime",
        "month": "str",
    }[ty]


def pair_source(name: str, args: list[str], returns: str, doc: str, call: str) -> str:
    """A sync method and its async twin calling ``self.<call>`` / ``self.<call>_async``."""
    doc = "\n        ".join(textwrap.wrap(doc, 92, break_on_hyphens=False))
    sig = ",\n        ".join(["self", *args])
    return (
        f"    def {name}(\n        {sig},\n    ) -> {returns}:\n"
        f'        """{doc}\n        """\n'
        f"        result: {returns} = self.{call}\n"
        f"        return result\n\n"
        f"    async def {name}_async(\n        {sig},\n    ) -> {returns}:\n"
        f'        """Async :meth:`{name}`."""\n'
        f"        result: {returns} = await self.{call.replace('(', '_async(', 1)}\n"
        f"        return result\n\n"
    )


def links_cost(op: dict[str, Any]) -> str:
    p = op["pricing"]
    tag = p["tag"]
    if p["rule"] == "free":
        return f"Rows: none (free) [{tag}]."
    if p["rule"] == "per_source":
        return f"Rows: {p['units']} per entry of sources [{tag}]."
    if not op["list"]:
        return f"Rows: {p['units']} per call [{tag}]."
    return f"Rows: {p['units']} per result returned; limit x {p['units']} is reserved first (default limit 25) [{tag}]."


LINKS_HEADER = '''"""Generated by tools/gen_catalog.py from the Links API v2 table: do not edit.

One sync and one async method per Moz Links API v2 endpoint, typed from the table, its rows
rule in its docstring. Each calls ``call(endpoint, ...)``, which validates and prices the call
in the core from the same table.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal, Mapping, Sequence

from ._common import Rows
from .frames import Output

__all__ = ["MozLinksMethods"]


def _given(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments a caller gave (None: left out)."""
    args.pop("self", None)
    return {k: v for k, v in args.items() if v is not None}


class MozLinksMethods:
    """The methods of every Links API v2 endpoint (mixed into :class:`seowire.Moz`)."""

    def call(self, endpoint: str, data: dict[str, Any] | None = None, *, output: Output = "dicts", **fields: Any) -> Any:
        raise NotImplementedError

    async def call_async(self, endpoint: str, data: dict[str, Any] | None = None, *, output: Output = "dicts", **fields: Any) -> Any:
        raise NotImplementedError

'''


def moz_links_methods(ops: list[dict[str, Any]]) -> str:
    parts = [LINKS_HEADER]
    for op in ops:
        name = op["name"]
        if name in LINKS_HAND:
            continue
        types, required = op["param_types"], op["required"]
        args = [f"{p}: {param_type(types[p], op['scopes'])}" for p in op["params"] if p in required]
        optional = [f"{p}: {param_type(types[p], op['scopes'])} | None = None" for p in op["params"] if p not in required]
        if op["list"]:
            optional.append('output: Output = "dicts"')
        if optional:
            args += ["*", *optional]
        text = [op["about"], links_cost(op)]
        if op["paging"] == "next_token":
            text.append("Pages with next_token (see pages()).")
        returns = "Rows" if op["list"] else "dict[str, Any]"
        parts.append(pair_source(name, args, returns, " ".join(text), f'call("{name}", **_given(locals()))'))
    return "".join(parts).rstrip("\n") + "\n"


SEMRUSH_API_HEADER = '''"""Generated by tools/gen_catalog.py from the SEMrush API v4 and Trends tables: do not edit.

One sync and one async method per named API v4 operation (the v4 key) and per Trends report
(Trends' own allowance), typed from the tables, the price in each docstring. Each calls
``v4(path, ...)`` or ``trends(report, ...)``, which validate and price the call in the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Sequence

from ._common import Rows
from .frames import Output

if TYPE_CHECKING:
    from .semrush import V4Object

__all__ = ["SemrushApiMethods"]


def _given(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments a caller gave (None: left out), the open ``params`` merged in."""
    args.pop("self", None)
    params = args.pop("params", {})
    return {**{k: v for k, v in args.items() if v is not None}, **params}


class SemrushApiMethods:
    """The methods of every named v4 operation and Trends report (mixed into :class:`seowire.Semrush`)."""

    def v4(self, path: str, *, output: Output = "dicts", **params: Any) -> Any:
        raise NotImplementedError

    async def v4_async(self, path: str, *, output: Output = "dicts", **params: Any) -> Any:
        raise NotImplementedError

    def trends(self, report: str, *, output: Output = "dicts", **params: Any) -> Any:
        raise NotImplementedError

    async def trends_async(self, report: str, *, output: Output = "dicts", **params: Any) -> Any:
        raise NotImplementedError

'''

# A Trends report's subject: (its Python type).
TRENDS_SUBJECTS = {"targets": "Sequence[str] | str", "target": "str", "category": "str | int"}


def price_text(p: dict[str, Any]) -> str:
    unit = "per request" if p["rule"] == "per_request" else "per line"
    text = f"{p['units']} units {unit}"
    if p.get("note"):
        text += f", {p['note']}"
    return text + f" [{p['tag']}]"


def semrush_api_methods(v4_ops: list[dict[str, Any]], trends_ops: list[dict[str, Any]]) -> str:
    parts = [SEMRUSH_API_HEADER]

    def method(name: str, args: list[str], returns: str, doc: str, call: str) -> None:
        parts.append(pair_source(name, args, returns, doc, call))

    for op in v4_ops:
        types, required, defaults = op["param_types"], op["required"], op["defaults"]
        subject = op["params"][0]
        args = [f"{subject}: {param_type(types[subject], op['scopes'])}", "*"]
        for p in op["params"][1:]:
            t = param_type(types[p], op["scopes"])
            if p in defaults:
                args.append(f"{p}: {t} = {json.dumps(defaults[p])}")
            elif p in required:
                args.append(f"{p}: {t}")
            else:
                args.append(f"{p}: {t} | None = None")
        rows = op["paging"] != "none"
        if rows:
            args.append('output: Output = "dicts"')
        args.append("**params: Any")
        returns = "Rows" if rows else "V4Object"
        doc = f"{op['about']} (API v4 ``{op['path']}``): {price_text(op['pricing'])}; a price is overridable with v4_prices=."
        if rows:
            doc += " Pages with limit and offset (see pages())."
        method(op["name"], args, returns, doc, f'v4("{op["path"]}", **_given(locals()))')
    for op in trends_ops:
        subject = next((p for p in op["required"] if p in TRENDS_SUBJECTS), None)
        args = [f"{subject}: {TRENDS_SUBJECTS[subject]}"] if subject else []
        args += ["*", 'output: Output = "dicts"', "**params: Any"]
        doc = f"Trends ``{op['report']}``. {op['about']}: {price_text(op['pricing'])}; Trends' own allowance (``trends_budget=``)."
        method(op["name"], args, "Any", doc, f'trends("{op["report"]}", **_given(locals()))')
    return "".join(parts).rstrip("\n") + "\n"


def built_catalog() -> Any:
    """seowire.catalog of the built module (the SEMrush and Moz tables live in the Rust core)."""
    try:  # the installed package, or the one on PYTHONPATH; else this checkout's python/
        from seowire import catalog as built
    except ImportError:
        sys.path.insert(0, str(ROOT / "python"))
        for name in [m for m in sys.modules if m == "seowire" or m.startswith("seowire.")]:
            del sys.modules[name]
    try:
        from seowire import catalog as built
    except ImportError as e:
        raise SystemExit(f"the SEMrush methods and the docs need the built module ({e}); build it first (DEVELOPERS.md)")
    return built


def outputs(docs: bool = False) -> dict[pathlib.Path, str]:
    catalog = build(json.loads(SPEC.read_text()))
    out = {CATALOG: json.dumps(catalog, indent=1) + "\n", METHODS: methods(catalog)}
    sys.path.insert(0, str(ROOT / "tools"))
    import moz_catalog

    moz = moz_catalog.build_moz(json.loads(MOZ_SPEC.read_text()))
    out[MOZ_CATALOG] = json.dumps(moz, indent=1) + "\n"
    out[MOZ_METHODS] = moz_catalog.moz_methods(moz)
    built = built_catalog()
    out[SEMRUSH_METHODS] = semrush_methods(built.endpoints("semrush", api="analytics_v3"))
    out[SEMRUSH_API_METHODS] = semrush_api_methods(built.endpoints("semrush", api="v4"), built.endpoints("semrush", api="trends"))
    out[MOZ_LINKS_METHODS] = moz_links_methods(built.endpoints("moz", api="links_v2"))
    if docs:
        for provider in built.PROVIDERS:
            out[ROOT / "docs" / "reference" / f"{provider}.md"] = built.reference_page(provider)
    return out


def main(argv: list[str]) -> int:
    stale = []
    for path, text in outputs(docs="--docs" in argv).items():
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        print(f"{path.relative_to(ROOT)} is not what tools/gen_catalog.py writes; run it", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
