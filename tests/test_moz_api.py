"""The Moz API (JSON-RPC): calls, validation, quota rules per pool, paging, bulk methods, errors
and the 4xx breaker, against the emulator and against a recording server serving the real
fixtures."""

import asyncio
import http.server
import json
import threading

import pytest

import seowire
from seowire.exceptions import (
    AuthenticationError,
    BudgetExceeded,
    InvalidRequest,
    ItemError,
    ProviderError,
    RateLimited,
    UnitsExhausted,
)

from conftest import FAST, SECRET


class Recorder:
    """A loopback server that records each JSON-RPC request and answers what `reply` says."""

    def __init__(self):
        self.requests = []
        self.reply = lambda body: (200, {"result": {}})
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw)
                recorder.requests.append({"headers": dict(self.headers), "body": body})
                status, doc = recorder.reply(body)
                doc = {"id": body.get("id"), "jsonrpc": "2.0", **doc}
                out = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jsonrpc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.close()


def client_on(url, **kw):
    kw.setdefault("ledger", seowire.Ledger("memory://"))
    kw.setdefault("retry", FAST)
    kw.setdefault("cache", False)
    return seowire.Moz(SECRET, api_url=url, plan="large", **kw)


def spent(m, pool="data"):
    account = m.accounts[pool]
    return sum(r["spent"] for r in m.ledger.usage() if r["account"] == account)


# -- the wire ----------------------------------------------------------------------------------


def test_requests_are_json_rpc_with_a_fresh_long_id_and_the_token_header(recorder):
    recorder.reply = lambda body: (200, {"result": {"site_query": {}, "site_metrics": {"domain_authority": 91}}})
    m = client_on(recorder.url)
    assert m.call("data.site.metrics.fetch", site_query="moz.com")["site_metrics"]["domain_authority"] == 91
    m.site_metrics({"query": "moz.com/blog", "scope": "url"})
    first, second = (r["body"] for r in recorder.requests)
    assert first["jsonrpc"] == "2.0" and first["method"] == "data.site.metrics.fetch"
    assert first["params"] == {"data": {"site_query": {"query": "moz.com", "scope": "domain"}}}
    assert second["params"]["data"]["site_query"] == {"query": "moz.com/blog", "scope": "url"}
    assert len(first["id"]) >= 24 and first["id"] != second["id"]
    assert first["id"][14] == "4"  # UUIDv4
    assert recorder.requests[0]["headers"]["x-moz-token"] == SECRET


def test_hyphenated_doc_names_and_python_names_resolve_to_the_dotted_method(recorder):
    recorder.reply = lambda body: (200, {"result": {"linking_domains": [], "offset": {"token": None}}})
    m = client_on(recorder.url)
    m.call("data.site.linking-domain.list", site_query="moz.com")
    m.call("data.site.linking.domain.list", data={"site_query": "moz.com"})
    assert [r["body"]["method"] for r in recorder.requests] == ["data.site.linking.domain.list"] * 2
    with pytest.raises(InvalidRequest, match="did you mean"):
        m.call("data.site.ranking.keywords.list", target_query="moz.com")
    assert len(recorder.requests) == 2


def test_a_client_default_scope_and_locale_fill_plain_strings(recorder):
    recorder.reply = lambda body: (200, {"result": {"ranking_keywords": [], "page": {}, "target_query": {}, "options": {}}})
    m = client_on(recorder.url, scope="subdomain", locale="en-GB")
    m.ranking_keywords("blog.moz.com", sort="volume")
    data = recorder.requests[0]["body"]["params"]["data"]
    assert data["target_query"] == {"query": "blog.moz.com", "scope": "subdomain", "locale": "en-GB"}
    assert data["options"] == {"sort": "volume"}
    with pytest.raises(InvalidRequest, match="default scope"):
        client_on(recorder.url, scope="root_domain")


# -- validation: nothing sent, nothing reserved -------------------------------------------------


@pytest.mark.parametrize(
    "method, data, match",
    [
        ("data.site.link.list", {"site_query": "moz.com", "colour": 1}, "colour"),
        ("data.site.link.list", {"site_query": {"query": "moz.com", "scope": "root_domain"}}, "domain, subdomain, subfolder, url"),
        ("data.site.link.list", {"site_query": "moz.com", "offset": {"limit": 51}}, "1..=50"),
        ("data.site.link.list", {"site_query": "moz.com", "limit": 10}, "top-level limit"),
        ("data.site.link.list", {"site_query": "moz.com", "options": {"filters": ["follow", "nofollow"]}}, "external must be one"),
        ("data.site.link.list", {}, "needs site_query"),
        ("data.site.link.list", {"site_query": "not a domain"}, "not a URL"),
        ("data.keyword.metrics.fetch", {"serp_query": ""}, "1..=255"),
        ("data.keyword.metrics.fetch", {"serp_query": "k" * 256}, "1..=255"),
        ("data.keyword.metrics.fetch", {"serp_query": {"keyword": "seo", "device": "fax"}}, "desktop, mobile_android"),
        ("data.site.link.intersect.fetch", {"is_linking_to": ["a.com", "b.com", "c.com", "d.com"], "not_linking_to": ["e.com", "f.com", "g.com"]}, "at most 6"),
        ("data.site.link.intersect.fetch", {"is_linking_to": []}, "at least one"),
        ("data.site.ranking.keyword.list", {"target_query": "moz.com", "page": {"limit": 501}}, "1..=500"),
        ("data.site.metrics.brand.authority.fetch", {"site_query": {"query": "moz.com", "scope": "url"}}, '"domain"'),
        ("data.keyword.search.intent.fetch", {"serp_query": {"keyword": "seo", "locale": "de-DE"}}, "en-AU"),
        ("data.site.metrics.histories.fetch", {"site_query": "moz.com"}, "at least one of"),
        ("data.site.linking.domain.filter.recently.gained", {"site_query": "moz.com", "options": {"begin_date": "2026-13-01"}}, "YYYY-MM-DD"),
        ("data.site.top.page.list", {"site_query": "moz.com", "offset": {"limit": "10"}}, "must be integer"),
    ],
)
def test_bad_fields_are_refused_before_anything_is_sent_or_reserved(recorder, method, data, match):
    m = client_on(recorder.url)
    with pytest.raises(InvalidRequest, match=match):
        m.call(method, data=data)
    with pytest.raises(InvalidRequest):
        m.estimate(method, data)
    assert recorder.requests == []
    assert m.ledger.usage() == []


def test_strict_false_sends_a_field_the_schema_does_not_know(recorder):
    recorder.reply = lambda body: (200, {"result": {"site_query": {}, "site_metrics": {}}})
    m = client_on(recorder.url)
    m.call("data.site.metrics.fetch", site_query="moz.com", new_field=1, strict=False)
    assert recorder.requests[0]["body"]["params"]["data"]["new_field"] == 1
    m.site_metrics("moz.com", strict=False)
    with pytest.raises(InvalidRequest, match="top-level limit"):
        m.call("data.site.link.list", site_query="moz.com", limit=5, strict=False)


def test_named_methods_refuse_a_misspelled_argument_with_a_suggestion():
    m = client_on("http://127.0.0.1:9/jsonrpc")
    with pytest.raises(InvalidRequest, match="did you mean 'sort'"):
        m.site_links("moz.com", sortt="source_spam_score")


# -- quota rules, pools and budgets -----------------------------------------------------------


def test_estimates_reserve_each_rules_worst_case_offline():
    m = client_on("http://127.0.0.1:9/jsonrpc")
    assert m.estimate("data.site.link.list", site_query="moz.com") == 25
    assert m.estimate("data.site.link.list", site_query="moz.com", offset={"limit": 7}) == 7
    assert m.estimate("data.keyword.metrics.fetch", serp_query="seo") == 4
    assert m.estimate("data.keyword.metrics.volume.fetch", serp_query="seo") == 1
    assert m.estimate("data.site.link.intersect.fetch", is_linking_to=["a.com", "b.com"], not_linking_to=["c.com"], offset={"limit": 10}) == 30
    assert m.estimate("data.site.metrics.fetch.multiple", site_queries=["a.com", "b.com", "c.com"]) == 3
    assert m.estimate("data.site.ranking.keyword.list", target_query="moz.com") == 25
    assert m.estimate("data.keyword.suggestions.list", serp_query="seo") == 50
    assert m.estimate("data.global.top.domain.list") == 0
    assert m.estimate("quota.lookup", path="api.limits.data.rows") == 0
    assert m.estimate("data.site.metrics.histories.fetch", site_query="moz.com", get_daily_history_values_for=["domain_authority", "page_authority"], get_monthly_history_deltas_for=["page_authority"]) == 3


def test_commits_count_what_came_back(moz, emu):
    m = moz()
    r = m.keyword_metrics("seo tools")
    non_null = sum(v is not None for v in r["keyword_metrics"].values())
    assert spent(m) == non_null
    r = m.link_intersects(["a.com", "b.com"], not_linking_to=["c.com"], limit=10)
    assert spent(m) == non_null + 3 * len(r["link_intersects"])
    before = spent(m)
    m.top_ranking_domains(limit=10)
    m.quota()
    assert spent(m) == before  # free methods
    assert emu.stats()["units_charged"] == spent(m)


def test_every_pool_has_its_own_budget_and_sync_reads_quota_lookup_per_pool(moz, emu):
    m = moz(budgets={"data": 30, "beta": 5})
    m.site_links("moz.com", limit=25)
    with pytest.raises(BudgetExceeded, match="nothing was sent"):
        m.site_links("moz.com", limit=25)
    requests = emu.stats()["requests"]
    m.beta_brand_authority({"query": "moz.com", "scope": "domain", "locale": "en-US"})
    assert spent(m, "beta") == 1 and spent(m) == 25
    assert emu.stats()["requests"] == requests + 1
    rows = m.ledger.sync(m)
    by_account = {r["account"]: r for r in rows}
    assert by_account[m.accounts["data"]]["provider_spent"] == 25
    assert by_account[m.accounts["beta"]]["provider_spent"] == 1
    assert all(r["drift"] == 0 for r in rows)
    q = m.quota("data")
    assert q["remaining"] == q["allotted"] - q["used"] and q["used"] == 25


def test_errors_cost_nothing(moz, emu):
    m = moz()
    emu.fault("status", status=400, body=json.dumps({"error": {"code": -32652, "status": 400, "message": "Please include a query", "data": {"key": "query"}}}), provider="moz")
    with pytest.raises(InvalidRequest, match="field: query"):
        m.site_links("moz.com")
    assert spent(m) == 0 and m.ledger.usage()[0]["reserved"] == 0


def test_quota_exhaustion_is_units_exhausted(moz, emu):
    emu.configure(moz_api_allotted={"data": 10, "beta": 0, "mozscape": 0})
    m = moz()
    with pytest.raises(UnitsExhausted):
        m.site_links("moz.com", limit=25)
    assert spent(m) == 0


# -- paging -----------------------------------------------------------------------------------


def test_offset_paging_yields_each_row_once_in_order_under_faults(moz, emu):
    m = moz()
    whole = list(m.rows("data.site.anchor-text.list", site_query="moz.com"))
    emu.configure(rows=None)
    emu.fault("status", status=503, count=2, provider="moz", after=2)
    again = list(m.rows("data.site.anchor.text.list", site_query="moz.com"))
    assert again == whole and len(whole) > 50
    assert len({r["text"] for r in whole}) == len(whole)


def test_offset_paging_stops_at_max_rows_without_overfetching(recorder):
    tokens = {}

    def reply(body):
        off = body["params"]["data"].get("offset") or {}
        start = int(off.get("token") or 0)
        limit = off.get("limit", 25)
        rows = [{"text": f"t{i}"} for i in range(start, start + limit)]
        return 200, {"result": {"anchor_texts": rows, "offset": {"provided_token": off.get("token"), "token": str(start + limit), "limit": limit}}}

    recorder.reply = reply
    m = client_on(recorder.url)
    got = [r["text"] for r in m.rows("data.site.anchor.text.list", site_query="moz.com", max_rows=120)]
    assert got == [f"t{i}" for i in range(120)]
    limits = [r["body"]["params"]["data"]["offset"]["limit"] for r in recorder.requests]
    assert limits == [50, 50, 20] and sum(limits) == 120
    assert all("limit" not in r["body"]["params"]["data"] for r in recorder.requests)
    assert spent(m) == 120


def test_page_paging_with_any_max_rows_never_repeats_or_skips(recorder):
    def reply(body):
        page = body["params"]["data"]["page"]
        n, limit = page["n"], page["limit"]
        start = n * limit
        rows = [{"keyword": f"k{i}"} for i in range(start, min(start + limit, 333))]
        return 200, {"result": {"ranking_keywords": rows, "page": page, "target_query": {}, "options": {}}}

    recorder.reply = reply
    m = client_on(recorder.url)
    got = [r["keyword"] for r in m.rows("data.site.ranking.keyword.list", target_query="moz.com", page_size=100, max_rows=230)]
    assert got == [f"k{i}" for i in range(230)]
    everything = [r["keyword"] for r in m.rows("data.site.ranking.keyword.list", target_query="moz.com", page_size=100)]
    assert everything == [f"k{i}" for i in range(333)]  # stops on the short page


def test_pages_async_and_frames(moz):
    m = moz()

    async def go():
        out = []
        async for page in m.pages("data.site.link.list", site_query="moz.com", max_rows=60, output="pandas"):
            out.append(page)
        return out

    frames = asyncio.run(go())
    assert sum(len(f) for f in frames) == 60


# -- bulk -------------------------------------------------------------------------------------


def test_site_metrics_multiple_matches_answers_back_to_input_order(moz, emu):
    emu.configure(moz_api_item_errors=["broken.com"])
    m = moz()
    sites = [f"site{i}.com" for i in range(120)] + ["site3.com", "https://site5.com/", "broken.com"]
    seen = []
    rows = m.site_metrics_multiple(sites, chunk_size=40, progress=lambda p: seen.append(p))
    assert len(rows) == len(sites)
    for site, row in zip(sites[:120], rows):
        assert row["site_query"]["original_site_query"]["query"] == site
        assert row["site_metrics"]["root_domain"] == site
    assert rows[120] == rows[3] and rows[120] is not rows[3]
    assert rows[121]["site_query"]["original_site_query"]["query"] == "site5.com"
    assert isinstance(rows[122], ItemError) and rows[122].status == 500 and rows[122].code == "-32602"
    assert rows.units == 120 and spent(m) == 120  # duplicates fetched once; the failed item not billed
    assert rows.requests == 4 and seen[-1].rows == 120 and seen[-1].requests == 4 and seen[-1].total == len(sites)


def test_link_exists_multiple_and_frames(moz):
    m = moz()
    pairs = [("moz.com", f"src{i}.com") for i in range(30)]
    rows = m.link_exists_multiple(pairs)
    assert [r["source_site_query"]["original_site_query"]["query"] for r in rows] == [p[1] for p in pairs]
    single = [m.link_exists("moz.com", p[1])["exists"] for p in pairs[:5]]
    assert [r["exists"] for r in rows[:5]] == single
    df = m.site_metrics_multiple(["moz.com", "ahrefs.com"], output="pandas")
    assert list(df["query"]) == ["moz.com", "ahrefs.com"]
    assert "domain_authority" in df.columns


def test_bulk_validates_every_item_first(moz, emu):
    m = moz()
    with pytest.raises(InvalidRequest, match=r"site_queries\[2\]"):
        m.site_metrics_multiple(["a.com", "b.com", {"query": "c.com", "scope": "planet"}])
    assert emu.stats()["requests"] == 0


def test_bulk_runs_at_the_plans_concurrency_and_async(moz, emu):
    emu.configure(latency_ms=20)
    m = moz(plan="medium")
    rows = asyncio.run(m.site_metrics_multiple_async([f"s{i}.com" for i in range(500)], chunk_size=10))
    assert len(rows) == 500 and all(r["site_metrics"]["root_domain"] == f"s{i}.com" for i, r in enumerate(rows))
    assert emu.stats()["peak_in_flight"] == 5


# -- errors and the 4xx breaker ---------------------------------------------------------------


def test_error_envelopes_map_to_the_shared_exceptions(recorder, fixtures):
    error = json.loads((fixtures / "moz_jsonrpc_error_1.json").read_text())["error"]
    m = client_on(recorder.url, breaker=0)
    recorder.reply = lambda body: (400, {"error": error})
    with pytest.raises(InvalidRequest, match=r"field: query") as e:
        m.site_metrics("moz.com")
    assert e.value.code == "-32652" and e.value.status == 400
    recorder.reply = lambda body: (401, {"error": {"code": -32651, "status": 401, "message": "Missing or invalid authentication"}})
    with pytest.raises(AuthenticationError):
        m.site_metrics("moz.com")
    recorder.reply = lambda body: (400, {"error": {"code": -32600, "httpStatus": 400, "message": 'jsonrpc must be "2.0"'}})
    with pytest.raises(InvalidRequest) as e:
        m.site_metrics("moz.com")
    assert e.value.status == 400
    n = len(recorder.requests)
    assert n == 3  # no 4xx is retried
    calls = iter([500, 200])
    recorder.reply = lambda body: (500, {"error": {"code": -32602, "status": 500, "message": "An unexpected error occurred."}}) if next(calls) == 500 else (200, {"result": {"site_query": {}, "site_metrics": {"domain_authority": 1}}})
    assert m.site_metrics("moz.com")["site_metrics"]["domain_authority"] == 1
    assert len(recorder.requests) == n + 2  # the 5xx was retried


def test_a_result_of_the_wrong_shape_is_refused(recorder):
    recorder.reply = lambda body: (200, {"result": {"offset": {"token": None}}})
    m = client_on(recorder.url)
    with pytest.raises(seowire.exceptions.ResponseFormatError, match="no links"):
        m.site_links("moz.com")
    recorder.reply = lambda body: (200, {"nothing": 1})
    with pytest.raises(seowire.exceptions.ResponseFormatError):
        m.site_metrics("moz.com")


def test_the_4xx_breaker_refuses_calls_and_is_shared_through_the_ledger(recorder):
    recorder.reply = lambda body: (400, {"error": {"code": -32652, "status": 400, "message": "Please include a query"}})
    ledger = seowire.Ledger("memory://")
    m = client_on(recorder.url, breaker=3, ledger=ledger)
    for _ in range(3):
        with pytest.raises(InvalidRequest):
            m.site_metrics("moz.com")
    with pytest.raises(RateLimited, match="50 requests per 5 minutes") as e:
        m.site_metrics("moz.com")
    assert 0 < e.value.retry_after <= 30
    other = client_on(recorder.url, breaker=3, ledger=ledger)
    with pytest.raises(RateLimited):
        other.keyword_metrics("seo")
    assert len(recorder.requests) == 3


def test_the_emulator_applies_the_4xx_penalty(moz, emu):
    m = moz(breaker=0)
    emu.configure(moz_api_null_keywords=["nothing"])
    for _ in range(51):
        with pytest.raises(ProviderError):
            m.keyword_volume("nothing")  # NotFoundError: 404
    with pytest.raises(RateLimited):
        m.site_metrics("moz.com")


# -- the emulator's wire ----------------------------------------------------------------------


def _raw(emu, body, token=SECRET):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(emu.base_url("mozapi"), data=json.dumps(body).encode(), method="POST",
                                 headers={"x-moz-token": token, "content-type": "application/json"} if token else {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_emulator_speaks_the_envelope_and_its_quirks(emu):
    good = {"jsonrpc": "2.0", "id": "0" * 24, "method": "metadata.index.fetch", "params": {"data": {}}}
    assert _raw(emu, good)[1]["result"]["index_id"]
    status, doc = _raw(emu, {**good, "jsonrpc": "1.0"})
    assert status == 400 and doc["error"]["code"] == -32600 and doc["error"]["httpStatus"] == 400 and "status" not in doc["error"]
    assert _raw(emu, {**good, "id": "short"})[1]["error"]["code"] == -32654
    status, doc = _raw(emu, {**good, "method": "data.site.metrics.brand_authority.fetch"})
    assert doc["error"]["code"] == -32601 and "DataSiteMetricsBrand_authorityFetch" in doc["error"]["message"]
    assert _raw(emu, good, token=None)[1]["error"]["code"] == -32651
    status, doc = _raw(emu, {**good, "method": "data.site.metrics.fetch"})
    assert doc["error"]["code"] == -32652 and doc["error"]["data"]["key"] == "site_query"


# -- the real fixtures ------------------------------------------------------------------------

FIXTURE_CALLS = {
    "moz_rpc_data_keyword_metrics_fetch_1": ("keyword_metrics", ("domain authority",), {}, lambda r: sum(v is not None for v in r["keyword_metrics"].values())),
    "moz_rpc_data_keyword_suggestions_list_1": ("keyword_suggestions", ("domain authority",), {}, lambda r: len(r["suggestions"])),
    "moz_rpc_data_site_anchor_text_list_1": ("anchor_texts", ("moz.com",), {"limit": 1}, lambda r: len(r["anchor_texts"])),
    "moz_rpc_data_site_link_list_1": ("site_links", ("moz.com",), {"limit": 1}, lambda r: len(r["links"])),
    "moz_rpc_data_site_link_status_fetch_1": ("link_exists", ("latimes.com", "moz.com"), {}, lambda r: 1),
    "moz_rpc_data_site_linking_domain_list_1": ("linking_domains", ("moz.com",), {}, lambda r: len(r["linking_domains"])),
    "moz_rpc_data_site_metrics_histories_fetch_1": ("site_metric_histories", ("https://moz.com",), {"get_monthly_history_deltas_for": ["page_authority", "domain_authority"]},
                                                    lambda r: sum(len(v) for v in r["site_metrics_histories"].values())),
    "moz_rpc_data_site_ranking_keyword_list_1": ("ranking_keywords", ("moz.com",), {"sort": "rank"}, lambda r: len(r["ranking_keywords"])),
    "moz_rpc_data_site_redirect_fetch_1": ("redirect_destination", ({"query": "seomoz.org/blog", "scope": "url"},), {}, lambda r: 1),
    "moz_rpc_metadata_index_fetch_1": ("index_id", (), {}, lambda r: 0),
    "moz_rpc_quota_lookup_1": ("quota_lookup", ("api.limits.data.rows",), {}, lambda r: 0),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_CALLS))
def test_each_fixture_round_trips_through_its_named_method(recorder, fixtures, name):
    result = json.loads((fixtures / f"{name}.json").read_text())
    recorder.reply = lambda body: (200, {"result": result})
    method, args, kw, rows = FIXTURE_CALLS[name]
    m = client_on(recorder.url)
    got = getattr(m, method)(*args, **kw)
    assert got == result
    assert spent(m) == rows(result)
    method_line = next(line for line in (fixtures / f"{name}.md").read_text().splitlines() if line.startswith("- Method:"))
    assert recorder.requests[0]["body"]["method"] in method_line


def test_the_multiple_fixture_matches_back_to_request_order(recorder, fixtures):
    result = json.loads((fixtures / "moz_rpc_data_site_metrics_fetch_multiple_1.json").read_text())
    recorder.reply = lambda body: (200, {"result": result})
    m = client_on(recorder.url)
    rows = m.site_metrics_multiple([{"query": "https://moz.com/", "scope": "domain"}, {"query": "https://moz.com/blog", "scope": "url"}])
    assert [r["site_query"]["scope"] for r in rows] == ["domain", "url"]  # the answer lists them the other way round
    assert rows[0]["site_metrics"]["page"] == "moz.com/" or rows[0]["site_metrics"]["root_domain"] == "moz.com"
    assert rows.units == 2 and spent(m) == 2
    df = m.site_metrics_multiple([{"query": "https://moz.com/", "scope": "domain"}], output="arrow")
    assert df.num_rows == 1


# -- the catalog ------------------------------------------------------------------------------

MOZ_SPEC = __import__("pathlib").Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "moz-api-methods.json"


def _strip(schema):
    if isinstance(schema, dict):
        return {k: _strip(v) for k, v in schema.items() if k not in ("description", "title", "examples", "example")}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


def test_the_catalog_and_moz_method_schema_agree_on_every_action():
    if not MOZ_SPEC.exists():
        pytest.fail(f"the Moz method schema copy is missing at {MOZ_SPEC}")
    spec = json.loads(MOZ_SPEC.read_text())["methods"]
    ops = {o["method"]: o for o in seowire.catalog.endpoints("moz") if o.get("api") == "jsonrpc"}
    assert len(spec) == len(ops) == 74
    for m in spec:
        op = ops[m["method"]]
        assert op["data"] == _strip(m["data"]) and op["result"] == _strip(m["result"]), m["method"]
        q = m["quota"]
        assert op["pricing"]["rule"] == q["type"]
        assert op["pricing"].get("multiplier", 1) == next((v for k, v in q.items() if k.endswith("_multiplier")), 1)
        assert op["pricing"].get("max_values") == q.get("max_values")
        assert op["public"] == m["public"] and op["enterprise_only"] == bool(m.get("enterprise_only"))
        if m.get("doc_name"):
            assert m["doc_name"] in op["aliases"]


def test_every_public_data_method_has_a_named_sync_and_async_method_with_its_cost():
    import inspect

    ops = [o for o in seowire.catalog.endpoints("moz") if o.get("api") == "jsonrpc" and o["public"] and not o["enterprise_only"]]
    assert len(ops) == 30
    for op in ops:
        sync, coro = getattr(seowire.Moz, op["name"]), getattr(seowire.Moz, op["name"] + "_async")
        assert inspect.signature(sync) == inspect.signature(coro), op["name"]
        assert inspect.iscoroutinefunction(inspect.unwrap(coro))
        assert "Rows:" in (sync.__doc__ or ""), op["name"]


def test_every_public_method_is_served_by_the_emulator(moz, emu):
    m = moz()
    calls = {
        "site_metrics": ("moz.com",), "site_metric_histories": ("moz.com",), "site_metric_distributions": ("moz.com",),
        "brand_authority": ("moz.com",), "site_links": ("moz.com",), "links_with_anchor_text": ("moz.com", "seo"),
        "links_from_domain": ("moz.com", "ahrefs.com"), "link_intersects": (["a.com", "b.com"],), "link_exists": ("moz.com", "a.com"),
        "linking_domains": ("moz.com",), "linking_domains_gained": ("moz.com",), "linking_domains_lost": ("moz.com",),
        "anchor_texts": ("moz.com",), "site_top_pages": ("moz.com",), "redirect_destination": ("moz.com",),
        "ranking_keywords": ("moz.com",), "ranking_keyword_count": ("moz.com",), "top_ranking_domains": (), "top_ranking_pages": (),
        "keyword_metrics": ("seo",), "keyword_volume": ("seo",), "keyword_difficulty": ("seo tools",), "keyword_opportunity": ("seo",),
        "keyword_priority": ("seo",), "search_intent": ("seo",), "keyword_suggestions": ("seo",), "quota_lookup": ("api.limits.data.rows",),
        "index_id": (),
    }
    kwargs = {"site_metric_histories": {"get_daily_history_values_for": ["domain_authority"]}, "ranking_keywords": {"sort": "rank"}}
    for name, args in calls.items():
        op = next(o for o in seowire.catalog.endpoints("moz") if o.get("name") == name)
        try:
            result = getattr(m, name)(*args, **kwargs.get(name, {}))
        except seowire.exceptions.ProviderError as e:  # a single keyword metric may be unknown: NotFoundError
            assert name.startswith("keyword_") and e.status == 404
            continue
        for key in op["result_keys"]:
            if not key.endswith(("_query", "options")):
                assert key in result, (name, key)
    m.site_metrics_multiple(["moz.com"])
    m.link_exists_multiple([("moz.com", "a.com")])


def test_frames_are_typed_from_the_method_schema(moz, emu):
    import pyarrow as pa

    emu.configure(moz_api_item_errors=["broken.com"])
    m = moz()
    t = m.site_links("moz.com", limit=5, output="arrow")
    assert t.num_rows == 5
    assert t.schema.field("source_site_metrics.domain_authority").type == pa.int64()
    assert t.schema.field("source_site_metrics.pages_to_root_domain").type == pa.int64()
    assert t.schema.field("source_site_metrics.link_propensity").type == pa.float64()
    assert t.schema.field("date_first_seen").type == pa.date32()
    assert t.schema.field("nofollow").type == pa.bool_()
    df = m.site_metrics_multiple(["moz.com", "broken.com", "ahrefs.com"], output="pandas")
    assert list(df["query"]) == ["moz.com", "broken.com", "ahrefs.com"]
    assert str(df["domain_authority"].dtype) in ("int64", "Int64", "float64")
    assert df["error"].isna().tolist() == [True, False, True]
    assert len([c for c in df.columns if c not in ("query", "scope", "error")]) == 52
    pl = m.ranking_keywords("moz.com", output="polars")
    assert pl.schema["rank_position"].is_integer() and pl.height == 25
    # A one-object method has no rows to frame: refused before anything is sent or reserved.
    before = emu.stats()["requests"]
    with pytest.raises(InvalidRequest, match="one object"):
        m.call("data.site.metrics.fetch", site_query="moz.com", output="pandas")
    assert emu.stats()["requests"] == before


def test_each_runs_a_one_object_method_per_item_in_input_order(moz, emu):
    emu.configure(moz_api_null_keywords=["zzqx unknown keyword"], latency_ms=5)
    m = moz(plan="medium")
    keywords = [f"keyword {i}" for i in range(40)] + ["zzqx unknown keyword"]
    rows = m.each("data.keyword.metrics.fetch", keywords)
    assert [r["serp_query"]["keyword"] for r in rows] == keywords
    assert rows[-1]["keyword_metrics"] == {"volume": None, "difficulty": None, "organic_ctr": None, "priority": None}
    assert rows.units == spent(m) == sum(sum(v is not None for v in r["keyword_metrics"].values()) for r in rows)
    assert emu.stats()["peak_in_flight"] <= 5
    vol = m.each("keyword_volume", ["seo", "zzqx unknown keyword"])
    assert isinstance(vol[1], ItemError) and vol[1].status == 404
    ba = asyncio.run(m.each_async("brand_authority", ["moz.com", "ahrefs.com"]))
    assert [r["site_query"]["original_site_query"]["query"] for r in ba] == ["moz.com", "ahrefs.com"]
    with pytest.raises(InvalidRequest, match="item 1"):
        m.each("brand_authority", ["moz.com", {"query": "x.com", "scope": "url"}])
    with pytest.raises(InvalidRequest, match="one-object"):
        m.each("data.site.link.list", ["moz.com"])
    df = m.each("search_intent", ["seo", "buy shoes"], output="pandas")
    assert len(df) == 2 and "keyword_intent.primary_intents" in df.columns


def test_each_stops_on_an_account_failure_and_keeps_what_arrived(moz, emu):
    m = moz(plan="free", budgets={"data": 3})
    with pytest.raises(seowire.exceptions.BulkError) as e:
        m.each("brand_authority", [f"s{i}.com" for i in range(6)])
    assert [r is not None for r in e.value.rows] == [True] * 3 + [False] * 3
    assert isinstance(e.value.__cause__, BudgetExceeded) and spent(m) == 3
