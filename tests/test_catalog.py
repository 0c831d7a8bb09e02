"""The catalog: one description per endpoint, from the spec, and everything that follows from it
(validation, prices, Python methods, the emulator, the CLI and the reference pages)."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import json
import pathlib
import subprocess
import sys

import pytest

import seowire
from seowire import catalog

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Subprocesses import the seowire these tests import (installed, or this checkout's python/).
ENV = {"PYTHONPATH": str(pathlib.Path(seowire.__file__).resolve().parent.parent), "PATH": "/usr/bin:/bin"}
SPEC = ROOT.parent / "shared" / "reference" / "ahrefs-v3-operations.json"


@pytest.fixture(scope="module")
def spec():
    if not SPEC.exists():
        pytest.fail(f"the Ahrefs spec copy is missing at {SPEC}")
    return json.loads(SPEC.read_text())


def resolved(cat, value):
    return cat["enums"][value] if isinstance(value, str) and value.startswith("@") else value


def test_generated_files_are_current():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_catalog.py"), "--check", "--docs"], capture_output=True, text=True, env=ENV)
    assert out.returncode == 0, out.stderr


def test_the_catalog_and_the_spec_agree_on_every_operation(spec):
    cat = catalog.catalog("ahrefs")
    ops = cat["operations"]
    assert len(ops) == len(spec["operations"]) == 148
    assert len({op["path"] for op in ops}) == 129
    by_method = {m: sum(op["method"] == m for op in ops) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}
    assert by_method == {"GET": 118, "POST": 18, "PUT": 7, "PATCH": 3, "DELETE": 2}
    for mine, theirs in zip(ops, spec["operations"]):
        where = f"{theirs['method']} {theirs['path']}"
        assert (mine["method"], mine["path"]) == (theirs["method"], theirs["path"].lstrip("/")), where
        assert mine["key"] == theirs["response"]["key"] and mine["list"] == theirs["response"]["list"], where
        assert list(mine["params"]) == [p["name"] for p in theirs["params"]], where
        for p in theirs["params"]:
            m = mine["params"][p["name"]]
            for fact in ("type", "format", "default", "fields"):
                assert m.get(fact) == p.get(fact), (where, p["name"], fact)
            assert m.get("required", False) == p.get("required", False), (where, p["name"])
            assert resolved(cat, m.get("enum")) == p.get("enum"), (where, p["name"])
        fields = theirs["response"]["fields"]
        assert list(mine["fields"]) == list(fields), where
        for name, f in fields.items():
            for fact in ("type", "format", "items", "nullable", "units"):
                assert mine["fields"][name].get(fact) == f.get(fact), (where, name, fact)
        if "body" in theirs:
            body = {k: v for k, v in theirs["body"].items() if k != "_required"}
            assert list(mine["body"]) == list(body), where
            assert mine["body_required"] == theirs["body"].get("_required", []), where
            for name, b in body.items():
                assert resolved(cat, mine["body"][name].get("enum")) == b.get("enum"), (where, name)
        else:
            assert "body" not in mine, where
        assert mine["pricing"]["tag"] and mine["paging"] in ("offset", "none"), where


def test_recent_api_changes_hold(ahrefs, emu):
    a = ahrefs()
    with pytest.raises(seowire.InvalidRequest, match="protocol"):
        a.get("site-explorer/domain-rating", target="example.com", protocol="https")
    with pytest.raises(seowire.InvalidRequest):
        a.domain_rating("example.com", protocol="https")  # type: ignore[call-arg]
    cat = catalog.catalog("ahrefs")
    for path in ("keywords-explorer/overview", "keywords-explorer/matching-terms", "keywords-explorer/search-suggestions",
                 "keywords-explorer/volume-by-country"):
        op = next(o for o in cat["operations"] if o["path"] == path)
        assert "search_engine" not in op["params"]
        valid = {n: _sample(cat, n, s, op) for n, s in op["params"].items() if s.get("required")}
        valid.update({"keywords": "seo"} if "keywords" in op["params"] else {})
        with pytest.raises(seowire.InvalidRequest, match="search_engine"):
            a.get(path, search_engine="google", **valid)
    assert emu.stats()["requests"] == 0


def _sample(cat, name, spec, op):
    """A valid value for a parameter of the catalog."""
    values = resolved(cat, spec.get("enum"))
    if name == "select":
        return list(op["fields"])[:2]
    if values:
        return values[0]
    ty, fmt = spec.get("type"), spec.get("format")
    if name in ("target", "url"):
        return "example.com"
    if ty == "integer":
        return 1
    if ty == "boolean":
        return True
    if ty == "array":
        items = spec.get("items")
        return [1] if items == "integer" else ["example"]
    if ty == "object":
        return {}
    if fmt == "date":
        return "2026-10-01"
    if fmt == "date-time":
        return "2026-10-01T00:00:00Z"
    if fmt == "url":
        return "https://example.com/"
    return "example"


def _matches(value, field):
    if value is None:
        return field.get("nullable", False)
    return {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }.get(field.get("type"), lambda v: True)(value)


def test_every_operation_is_callable_and_served_with_the_spec_shape(ahrefs, emu):
    """Each of the 148 operations, through its generated method, with its required parameters only:
    validated by the client, answered by the emulator with the spec's fields and types, and the
    ledger books what the emulator charged."""
    cat = catalog.catalog("ahrefs")
    emu.configure(ahrefs_rate_per_minute=None, ahrefs_units_limit=None)
    a = ahrefs()
    for op in cat["operations"]:
        args = {}
        for n, s in op["params"].items():
            if s.get("required") or (n == "select" and op["list"]):
                args[n] = _sample(cat, n, s, op)
        if "keywords" in op["params"] and "keyword_list_id" in op["params"]:
            args["keywords"] = "seo"  # keywords explorer: inline keywords or a list
        for n in op.get("body_required", []):
            args[n] = _sample(cat, n, op["body"][n], op)
        if op["name"] == "batch_analysis":
            rows = a.batch_analysis(["example.com"], select=list(op["fields"])[:2])
        else:
            method = getattr(a, op["name"])
            rows = method(**{(k + "_" if k == "from" else k): v for k, v in args.items()})
        answer = rows if op["list"] else [rows]
        assert isinstance(answer, list), op["name"]
        for row in answer[:3]:
            assert set(row) <= set(op["fields"]), (op["name"], set(row) - set(op["fields"]))
            for k, v in row.items():
                assert _matches(v, op["fields"][k]), (op["name"], k, v)
    usage = a.ledger.usage()[0]
    assert usage["spent"] == emu.stats()["units_charged"] and usage["reserved"] == 0
    assert emu.stats()["requests"] == 148


def test_every_method_has_an_async_twin_with_the_same_signature():
    names = [op["name"] for op in catalog.endpoints("ahrefs")]
    assert len(names) == len(set(names)) == 148
    for name in names:
        sync, twin = getattr(seowire.Ahrefs, name), getattr(seowire.Ahrefs, name + "_async")
        assert inspect.signature(sync) == inspect.signature(twin), name
        assert inspect.iscoroutinefunction(inspect.unwrap(twin)), name
        if name != "batch_analysis":
            assert "Units:" in (sync.__doc__ or ""), name
    assert "traffic 10" in seowire.Ahrefs.all_backlinks.__doc__
    assert "50 per request" in seowire.Ahrefs.site_audit_issues.__doc__
    assert "free family" in seowire.Ahrefs.gsc_keywords.__doc__


def test_async_generated_methods_share_the_call(ahrefs, emu):
    a = ahrefs()
    sync = a.refdomains("example.com", select=["domain", "domain_rating"], limit=7)
    again = asyncio.run(a.refdomains_async("example.com", select=["domain", "domain_rating"], limit=7))
    assert list(sync) == list(again) and len(sync) == 7


def test_validation_comes_from_the_catalog_for_every_operation(ahrefs, emu):
    a = ahrefs(budget=10_000)
    cases = [
        (lambda: a.gsc_keywords(project_id=1, date_from="2026-01-01", projct_id=2), "did you mean 'project_id'"),  # type: ignore[call-arg]
        (lambda: a.get("gsc/keywords", project_id=1, date_from="2026-01-01", limt=5), "did you mean 'limit'"),
        (lambda: a.get("site-explorer/pages-by-traffic", target="x.com", mode="everything"), "mode must be one of"),
        (lambda: a.get("site-explorer/pages-by-traffic", target="x.com", mode="subdomain"), "did you mean 'subdomains'"),
        (lambda: a.get("site-explorer/paid-pages", target="x.com", select=["url"], limit="ten"), "limit"),
        (lambda: a.get("management/projects", project_id="seven"), "must be an int"),
        (lambda: a.get("management/projects", has_keywords="yes"), "must be a bool"),
        (lambda: a.get("site-explorer/paid-pages", target="x.com", select=["urll"]), "did you mean 'url'"),
        (lambda: a.get("site-explorer/paid-pages", target="x.com"), "needs select"),
        (lambda: a.get("gsc/keywords", project_id=1), "needs date_from"),
        (lambda: a.get("gsc/keywords", project_id=1, date_from="2026-13-01"), "YYYY-MM-DD"),
        (lambda: a.get("site-explorer/pages-by-trafic", target="x.com"), "did you mean 'site-explorer/pages-by-traffic'"),
        (lambda: a.delete("social-media/post", json={"post_id": 1, "nope": 1}), "takes no parameter 'nope'"),
        (lambda: a.delete("management/projects", json={"project_id": 1}), "takes no request body"),
        (lambda: a.post("management/projects", json={"project_name": "p", "url": "x.com", "protocol": "both"}), "needs mode"),
        (lambda: a.post("management/projects", json={"project_name": "p", "url": "x.com", "protocol": "ftp", "mode": "domain"}), "protocol"),
        (lambda: a.put("site-explorer/all-backlinks", target="x.com"), "no PUT operation"),
        (lambda: a.put_management_keyword_list_keywords(keyword_list_id=1, keywords="seo"), "keywords must be array"),
        (lambda: a.get("gsc/keywords", project_id=1, date_from="2026-01-01", strict="no"), "strict must be True or False"),
        (lambda: seowire.Ahrefs("k-123456", ledger="memory://", plan=5), "plan must be a plan name"),
        (lambda: a.all_backlinks("x.com"), "select"),  # type: ignore[call-arg]
        # offset only where the spec has it (page-explorer, social-media posts).
        (lambda: a.get("site-explorer/refdomains", target="x.com", select=["domain"], offset=10), "no parameter 'offset'"),
    ]
    for i, (call, message) in enumerate(cases):
        with pytest.raises(seowire.InvalidRequest, match=message):
            call()
            pytest.fail(f"case {i} was not refused")
    assert emu.stats()["requests"] == 0
    assert all(u["reserved"] == 0 and u["spent"] == 0 for u in a.ledger.usage())


def test_strict_false_sends_what_the_catalog_does_not_know(ahrefs, emu):
    with pytest.raises(seowire.SeowireError, match="unknown parameter"):
        ahrefs().get("gsc/keywords", project_id=1, date_from="2026-01-01", brand_new=1, strict=False)
    assert emu.stats()["requests"] == 1
    # A generated method has the spec's parameters only; get() sends the rest.
    with pytest.raises(seowire.InvalidRequest, match="strict=False"):
        ahrefs(strict=False).gsc_keywords(project_id=1, date_from="2026-01-01", brand_new=1)  # type: ignore[call-arg]
    assert "brand_new=1" in ahrefs(strict=False).url("gsc/keywords", project_id=1, date_from="2026-01-01", brand_new=1)


def test_estimates_use_the_spec_field_costs(ahrefs):
    a = ahrefs()
    # paid-pages: the spec's notes price some fields above 1 unit.
    op = next(o for o in catalog.endpoints("ahrefs") if o["path"] == "site-explorer/paid-pages")
    heavy = max(op["fields"], key=lambda f: op["fields"][f].get("units", 1))
    units = op["fields"][heavy].get("units", 1)
    assert units > 1
    assert a.estimate("paid_pages", target="x.com", select=["url", heavy], limit=100) == max(50, (1 + units) * 100)
    assert a.estimate("site-explorer/paid-pages", target="x.com", select=["url"], limit=10) == 50
    assert a.estimate("post_management_projects", json={"project_name": "p", "url": "x.com", "protocol": "both", "mode": "domain"}) == 50


def test_plan_row_caps_are_checked_before_sending(ahrefs, emu):
    lite = ahrefs(plan="lite")
    assert lite.plan_rows == 100 and ahrefs(plan="Advanced").plan_rows == 500 and ahrefs(plan="enterprise").plan_rows is None
    with pytest.raises(seowire.InvalidRequest, match="plan's 100 rows"):
        lite.all_backlinks("x.com", select=["url_from"], limit=101)
    assert emu.stats()["requests"] == 0
    # Without a limit, the plan's cap is asked for instead of the spec's default of 1000.
    assert "limit=100" in lite.url("all_backlinks", target="x.com", select=["url_from"])
    assert lite.estimate("all_backlinks", target="x.com", select=["url_from"]) == 100
    assert len(lite.all_backlinks("x.com", select=["url_from"])) <= 100
    assert len(ahrefs(plan="standard").all_backlinks("x.com", select=["url_from"], limit=250)) <= 250
    with pytest.raises(seowire.InvalidRequest, match="plan must be one of"):
        ahrefs(plan="gold")


def test_writes_reach_the_emulator_with_their_method(ahrefs, emu):
    a = ahrefs()
    a.put_management_keyword_list_keywords(keyword_list_id=1, keywords=["seo"])
    a.post_management_projects(project_name="shop", url="shop.com", protocol="both", mode="domain")
    a.patch("management/update-project", json={"project_id": 1})
    a.delete("social-media/post", json={"post_id": 1})
    assert emu.stats()["requests"] == 4
    with pytest.raises(seowire.SeowireError, match="405|not allowed"):
        a.get("management/update-project", strict=False)


def test_dates_are_accepted_as_dates(ahrefs):
    url = ahrefs().url("gsc_keywords", project_id=1, date_from=datetime.date(2026, 1, 2))
    assert "date_from=2026-01-02" in url


def test_the_cli_lists_every_endpoint():
    env = ENV
    out = subprocess.run([sys.executable, "-m", "seowire", "endpoints", "ahrefs", "--format", "json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 148 and {"name": "all_backlinks", "endpoint": "GET site-explorer/all-backlinks"}.items() <= next(
        r for r in rows if r["name"] == "all_backlinks").items()
    for provider, count in (("semrush", len(catalog.endpoints("semrush"))), ("moz", len(catalog.endpoints("moz")))):
        out = subprocess.run([sys.executable, "-m", "seowire", "endpoints", provider], capture_output=True, text=True, env=env)
        assert out.returncode == 0 and f"{provider}: {count} endpoints" in out.stdout
    out = subprocess.run([sys.executable, "-m", "seowire", "estimate", "ahrefs", "gsc_keywords", "project_id=1", "date_from=2026-01-01", "limt=5"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 1 and "did you mean 'limit'" in out.stderr


def test_frames_take_their_schema_from_the_catalog(ahrefs, emu):
    pa = pytest.importorskip("pyarrow")
    emu.configure(rows_per_target={"empty.com": 0})
    a = ahrefs()
    select = ["url_from", "traffic", "domain_rating_source", "is_dofollow", "first_seen_link"]
    op = next(o for o in catalog.endpoints("ahrefs") if o["path"] == "site-explorer/all-backlinks")
    full = a.all_backlinks("x.com", select=select, limit=20, output="arrow")
    empty = a.all_backlinks("empty.com", select=select, limit=20, output="arrow")
    assert full.num_rows == 20 and empty.num_rows == 0
    assert full.schema.names == empty.schema.names == select
    assert [f.type for f in full.schema] == [f.type for f in empty.schema]
    expected = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(), "string": pa.string()}
    for name in select:
        field = op["fields"][name]
        want = pa.timestamp("ms", tz="UTC") if field.get("format") == "date-time" else expected[field["type"]]
        assert full.schema.field(name).type == want, name
    assert pa.concat_tables([full, empty]).num_rows == 20
    # A page of nulls keeps the declared types too (no Null columns).
    types = catalog.field_types("GET", "site-explorer/all-backlinks")
    nulls = seowire._seowire.rows_table([{n: None for n in select}], select, types)
    assert [f.type for f in pa.table(nulls).schema] == [f.type for f in full.schema]
    # polars and pandas get the same columns.
    pl = pytest.importorskip("polars")
    assert a.all_backlinks("empty.com", select=select, output="polars").columns == select
    assert isinstance(a.all_backlinks("empty.com", select=select, output="polars"), pl.DataFrame)
    # A value that is not of the spec's type is an error naming the field, not a different column.
    with pytest.raises(seowire.ResponseFormatError, match="traffic"):
        seowire._seowire.rows_table([{"traffic": "<html>"}], ["traffic"], {"traffic": "integer"})


def test_every_semrush_report_has_a_generated_method_with_its_price(semrush, emu):
    reports = catalog.endpoints("semrush", api="analytics_v3")
    assert len(reports) == 41
    for op in reports:
        sync, twin = getattr(seowire.Semrush, op["name"]), getattr(seowire.Semrush, op["name"] + "_async")
        assert inspect.signature(sync) == inspect.signature(twin), op["name"]
        assert f"{op['pricing']['units']} units" in sync.__doc__, op["name"]
        assert ("database" in inspect.signature(sync).parameters) == op["database"], op["name"]
    s = semrush()
    rows = s.domain_organic("example.com", database="us", display_limit=5)
    assert len(rows) == 5 and rows.units == 50
    assert len(s.phrase_kdi("seo", database="us")) == 1
    assert len(asyncio.run(s.phrase_these_async(["seo", "tools"], database="us"))) == 2


def test_strict_false_is_there_for_semrush_and_moz_too(semrush, moz, emu):
    with pytest.raises(seowire.InvalidRequest, match="did you mean"):
        moz().call("links", target="moz.com", limit=3, limt=3)
    with pytest.raises(seowire.InvalidRequest, match="display_limit"):
        semrush().report("domain_organic", domain="x.com", database="us", display_limt=3)
    assert emu.stats()["requests"] == 0
    # Sent as given: the server (here the emulator) is the judge.
    with pytest.raises(seowire.SeowireError, match="unknown field brand_new"):
        moz().call("links", target="moz.com", limit=3, brand_new=1, strict=False)
    assert emu.stats()["requests"] == 1
    assert "brand_new=1" in semrush().url("domain_organic", domain="x.com", database="us", brand_new=1, strict=False)


def test_semrush_v4_trends_and_projects_are_in_the_catalog_with_their_methods():
    """Every named v4, Trends and Projects operation is described in the catalog (prices with
    their tags) and reachable as a Semrush method, sync and async."""
    import seowire

    apis = {op.get("api") for op in catalog.endpoints("semrush")}
    assert apis == {"analytics_v3", "v4", "trends", "projects"}
    v4 = catalog.endpoints("semrush", api="v4")
    trends = catalog.endpoints("semrush", api="trends")
    projects = catalog.endpoints("semrush", api="projects")
    assert len(v4) == 6 and len(trends) == 13 and len(projects) == 7
    for op in v4 + trends + [p for p in projects if ":" not in p["name"]]:
        assert callable(getattr(seowire.Semrush, op["name"])), op["name"]
        assert callable(getattr(seowire.Semrush, op["name"] + "_async")), op["name"]
        assert op["pricing"]["tag"] and op["pricing"]["units"] > 0
    assert next(o for o in v4 if o["name"] == "backlinks_v4_links")["pricing"] == {
        "rule": "per_line", "units": 45, "tag": "T SREV", "overridable": "v4_prices="}
    assert next(o for o in trends if o["name"] == "trends_categories")["pricing"]["units"] == 500
    assert "pass keywords=" in catalog.price(next(o for o in projects if o["name"] == "tracking_position_organic"))


def test_links_v2_v4_and_trends_methods_follow_from_the_catalog(moz, semrush, emu):
    """The Links v2, SEMrush v4 and Trends methods are generated from the core's tables: each
    endpoint has a sync and an async method with one signature, its parameters typed (scopes as
    their Literal), its price in the docstring; Links v2 frames take the table's answer types."""
    pa = pytest.importorskip("pyarrow")
    links = catalog.endpoints("moz", api="links_v2")
    assert len(links) == 12
    for op in links:
        sync, twin = getattr(seowire.Moz, op["name"]), getattr(seowire.Moz, op["name"] + "_async")
        params = inspect.signature(sync).parameters
        assert inspect.signature(sync) == inspect.signature(twin), op["name"]
        if op["name"] == "url_metrics":
            continue  # by hand: any number of targets, stream=True
        assert [p for p in params if p not in ("self", "output")] == op["params"], op["name"]
        assert [p for p in params if params[p].default is inspect.Parameter.empty and p != "self"] == op["required"]
        doc = " ".join(sync.__doc__.split())
        assert "Rows:" in doc and op["pricing"]["tag"] in doc, op["name"]
        assert ("output" in params) == op["list"], op["name"]
    assert "Literal['page', 'subdomain', 'root_domain']" in str(inspect.signature(seowire.Moz.links).parameters["target_scope"].annotation) \
        or "Literal[\"page\", \"subdomain\", \"root_domain\"]" in str(inspect.signature(seowire.Moz.links).parameters["target_scope"].annotation)
    for op in catalog.endpoints("semrush", api="v4") + catalog.endpoints("semrush", api="trends"):
        sync, twin = getattr(seowire.Semrush, op["name"]), getattr(seowire.Semrush, op["name"] + "_async")
        assert inspect.signature(sync) == inspect.signature(twin), op["name"]
        doc = " ".join(sync.__doc__.split())
        assert f"{op['pricing']['units']} units" in doc and op["pricing"]["tag"] in doc, op["name"]
    assert inspect.signature(seowire.Semrush.backlinks_v4_links).parameters["scope"].default == "ROOT_DOMAIN"
    # The generated methods reach the emulator and are priced by the core.
    m = moz()
    rows = m.anchor_text("moz.com", limit=4)
    assert len(rows) == 4 and rows.units == 4
    assert m.link_status("moz.com", ["a.com", "b.com"])["exists"] and asyncio.run(m.final_redirect_async("seomoz.org/blog"))["page"]
    t = m.linking_root_domains("moz.com", limit=3, output="arrow")
    types = dict(catalog.links_columns("linking_root_domains")[1])
    assert t.schema.field("to_target.pages").type == pa.int64() and types["link_propensity"] == "number"
    assert t.schema.field("link_propensity").type == pa.float64()
    sr = semrush(v4_key="semrtkn-test-v4")
    assert len(sr.trends_summary(["a.com", "b.com"])) == 2
    assert len(sr.backlinks_v4_links("example.com", limit=5)) == 5
