import asyncio
import datetime
import json
import logging
import time
import urllib.parse

import pytest

import seowire
from seowire import _seowire
from conftest import FAST, SECRET


# -- 1. client --------------------------------------------------------------------------------


def test_key_from_env_bearer_only_and_base_url(monkeypatch, emu):
    with pytest.raises(seowire.AuthenticationError):
        seowire.Ahrefs(ledger="memory://")
    monkeypatch.setenv("AHREFS_API_KEY", SECRET)
    monkeypatch.setenv("SEOWIRE_AHREFS_URL", emu.base_url("ahrefs"))
    a = seowire.Ahrefs(ledger="memory://", rate_limit=None)
    assert a.base_url == emu.base_url("ahrefs")
    assert a.domain_rating("example.com")["domain_rating"] >= 0
    url = a.url("all_backlinks", target="example.com", select=["url_from"])
    assert SECRET not in url and url.startswith(emu.base_url("ahrefs") + "/site-explorer/all-backlinks?")
    monkeypatch.delenv("SEOWIRE_AHREFS_URL")
    assert seowire.Ahrefs(ledger="memory://").base_url == "https://api.ahrefs.com/v3"


def test_wrong_key_is_authentication_error_without_the_key(ahrefs, emu, caplog):
    emu.configure(keys=["another"])
    with caplog.at_level(logging.DEBUG, logger="seowire"):
        with pytest.raises(seowire.AuthenticationError) as e:
            ahrefs().domain_rating("example.com")
    assert e.value.status == 401 and SECRET not in str(e.value) and SECRET not in caplog.text
    assert SECRET not in repr(ahrefs())


# -- 2. coverage ------------------------------------------------------------------------------

SITE = {"target": "example.com"}
NAMED = [
    ("domain_rating", ("example.com",), {}, dict),
    ("backlinks_stats", ("example.com",), {}, dict),
    ("metrics", ("example.com",), {}, dict),
    ("all_backlinks", ("example.com",), {"select": ["url_from", "url_to", "anchor"], "limit": 5}, list),
    ("broken_backlinks", ("example.com",), {"select": ["url_from"], "limit": 5}, list),
    ("refdomains", ("example.com",), {"select": ["domain", "domain_rating"], "limit": 5}, list),
    ("anchors", ("example.com",), {"select": ["anchor", "refdomains"], "limit": 5}, list),
    ("linkeddomains", ("example.com",), {"select": ["domain"], "limit": 5}, list),
    ("organic_keywords", ("example.com",), {"select": ["keyword", "volume"], "country": "us", "limit": 5}, list),
    ("organic_competitors", ("example.com",), {"select": ["competitor_domain"], "country": "us", "limit": 5}, list),
    ("top_pages", ("example.com",), {"select": ["url", "sum_traffic"], "limit": 5}, list),
    ("domain_rating_history", ("example.com",), {"date_from": "2026-01-01"}, list),
    ("metrics_history", ("example.com",), {"date_from": datetime.date(2026, 1, 1)}, list),
    ("keywords_overview", (["seo tools", "backlinks"],), {"country": "us", "select": ["keyword", "volume"]}, list),
    ("matching_terms", ("seo",), {"country": "us", "select": ["keyword", "difficulty"], "limit": 5}, list),
    ("related_terms", ("seo",), {"country": "us", "select": ["keyword"], "limit": 5}, list),
    ("search_suggestions", ("seo",), {"country": "us", "select": ["keyword"], "limit": 5}, list),
    ("volume_history", ("seo",), {"country": "us"}, list),
    ("serp_overview", ("seo",), {"country": "us", "select": ["position", "url", "traffic"], "top_positions": 5}, list),
    ("site_audit_issues", (7,), {}, list),
    ("page_explorer", (7,), {"select": ["url", "http_code"], "limit": 5, "offset": 10}, list),
    ("rank_tracker_overview", (7,), {"date": "2026-11-01", "device": "desktop", "select": ["keyword", "position"], "limit": 5}, list),
]


@pytest.mark.parametrize("name,args,kw,shape", NAMED)
def test_named_methods_unwrap_the_single_key(ahrefs, name, args, kw, shape):
    a = ahrefs()
    out = getattr(a, name)(*args, **kw)
    assert isinstance(out, shape)
    if shape is list:
        cap = kw.get("limit", kw.get("top_positions"))
        assert isinstance(out, seowire.Rows) and 1 <= len(out) <= (cap or 10_000) and isinstance(out[0], dict)
        if "select" in kw:
            assert set(out[0]) == set(kw["select"])
    again = asyncio.run(getattr(a, name + "_async")(*args, **kw))
    assert (list(again) if shape is list else again) == (list(out) if shape is list else out)


def test_generic_get_and_post_reach_any_path(ahrefs, emu):
    a = ahrefs()
    assert a.get("site-explorer/domain-rating", target="example.com", date="2026-11-01")["domain_rating"] >= 0
    # Every catalog operation is served, with the spec's fields.
    pages = a.get("site-explorer/pages-by-traffic", target="example.com")
    assert isinstance(pages, dict) and len(pages) > 3  # one object of the spec's fields
    with pytest.raises(seowire.InvalidRequest, match="did you mean 'site-explorer/pages-by-traffic'"):
        a.get("site-explorer/pages-by-trafic", target="example.com")
    with pytest.raises(seowire.ProviderError) as e:
        a.get("site-explorer/pages-by-trafic", target="example.com", strict=False)  # sent: the server says 404
    assert e.value.status == 404 and "may not exist" in str(e.value)
    rows = a.post("batch-analysis/batch-analysis", json={"targets": [{"url": "a.com", "mode": "domain", "protocol": "both"}], "select": ["url", "domain_rating"]})
    assert rows[0]["url"] == "a.com"


def test_batch_analysis_splits_and_merges_in_order(ahrefs, emu):
    targets = [f"site{i}.com" for i in range(250)]
    rows = ahrefs().batch_analysis(targets, select=["url", "domain_rating", "org_cost"])
    assert [r["url"] for r in rows] == targets
    assert rows.requests == 3 and emu.stats()["requests"] == 3
    assert isinstance(rows[0]["org_cost"], int)  # USD cents, as sent
    assert rows.units == emu.stats()["units_charged"] == 2 * 12 * 100 + 12 * 50  # (1+1+10) per row
    with pytest.raises(seowire.InvalidRequest):
        ahrefs().batch_analysis(["a.com", ""], select=["url"])


def test_real_payloads(fixtures):
    dr = _seowire.loads((fixtures / "ahrefs_domain_rating_1.json").read_bytes())
    assert dr == {"domain_rating": {"domain_rating": 91.0, "ahrefs_rank": 635}}
    lu = _seowire.loads((fixtures / "ahrefs_limits_and_usage_1.json").read_bytes())["limits_and_usage"]
    assert lu["units_limit_api_key"] == 500000 and lu["units_usage_api_key"] == 100000


# -- 3. parameters ----------------------------------------------------------------------------


def test_select_where_order_by_are_serialised(ahrefs):
    a = ahrefs()
    url = a.url("all_backlinks", target="example.com", select=["url_from", "traffic"],
                where={"and": [{"field": "domain_rating_source", "is": ["gte", 50]}, {"field": "is_dofollow", "is": ["eq", True]}]},
                order_by=["traffic:desc", "url_from"], limit=10)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert q["select"] == "url_from,traffic" and q["order_by"] == "traffic:desc,url_from"
    assert json.loads(q["where"]) == {"and": [{"field": "domain_rating_source", "is": ["gte", 50]}, {"field": "is_dofollow", "is": ["eq", True]}]}
    short = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(a.url("refdomains", target="x.com", select="domain", where={"domain_rating": ["gte", 50]})).query))
    assert json.loads(short["where"]) == {"field": "domain_rating", "is": ["gte", 50]}
    # date defaults to today where required
    dated = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(a.url("metrics", target="x.com")).query))
    assert dated["date"] == datetime.datetime.now(datetime.timezone.utc).date().isoformat()


@pytest.mark.parametrize("call", [
    lambda a: a.all_backlinks("x.com", select=["url_fromm"]),
    lambda a: a.all_backlinks("x.com", select=["url_from"], where={"no_such_field": ["eq", 1]}),
    lambda a: a.all_backlinks("x.com", select=["url_from"], order_by="bogus:desc"),
    lambda a: a.all_backlinks("x.com", select=["url_from"], order_by="url_from:sideways"),
    lambda a: a.all_backlinks("x.com"),
    lambda a: a.all_backlinks("", select=["url_from"]),
    lambda a: a.metrics("x.com", mode="everything"),
    lambda a: a.metrics("x.com", date="2026-02-31x"),
    lambda a: a.metrics("x.com", colour="red"),
    lambda a: a.keywords_overview("seo", select=["keyword"]),  # no country
    lambda a: a.organic_keywords("x.com", select=["keyword"], limit=0),
    lambda a: a.get("site-explorer/domain-rating", target="x.com", api_key="x"),
])
def test_bad_parameters_raise_before_sending(ahrefs, emu, call):
    with pytest.raises(seowire.InvalidRequest):
        call(ahrefs())
    assert emu.stats()["requests"] == 0


# -- 4. unit model ----------------------------------------------------------------------------


def test_estimates_offline():
    a = seowire.Ahrefs("k", ledger="memory://")
    assert a.estimate("domain_rating", target="x.com") == 50  # the docs' example: max(50, 2)
    assert a.estimate("all_backlinks", target="x.com", select=["url_from", "traffic"], where={"traffic": ["gt", 0]}, limit=100) == 1100
    assert a.estimate("site-explorer/all-backlinks", target="x.com", select=["url_from", "refdomains_source"], order_by="traffic:desc", limit=10) == 160
    # "Free" is unconfirmed: free test targets and families reserve their model cost.
    assert a.estimate("all_backlinks", target="ahrefs.com", select=["url_from", "traffic"], limit=1000) == 11_000
    assert a.estimate("limits_and_usage") == 50 and a.estimate("rank_tracker_overview", project_id=1, date="2026-01-01", device="desktop", select=["keyword"]) == 50
    assert a.estimate("site_audit_issues", project_id=1) == 50
    assert a.estimate("batch_analysis", targets=["a.com"] * 150, select=["url", "org_traffic"]) == max(50, 11 * 100) + max(50, 11 * 50)
    assert seowire.Ahrefs("k", ledger="memory://", free_targets=["wordcount.com"]).estimate("all_backlinks", target="wordcount.com", select=["url_from"]) == 1000


def test_an_unconfirmed_free_target_never_skips_the_reservation(ahrefs, emu):
    """The emulator's free set differs from the client's (subdomains are free there, not in
    the client): the call reserves its model cost, is refused under a small budget, and
    otherwise commits what the cost header says."""
    emu.configure(ahrefs_free_subdomains=False, ahrefs_free_targets=["yep.com"])
    a = ahrefs(budget=100)
    with pytest.raises(seowire.BudgetExceeded):
        a.all_backlinks("ahrefs.com", select=["url_from", "traffic"], limit=100)
    assert emu.stats()["requests"] == 0
    a = ahrefs(budget=5000)
    r = a.all_backlinks("ahrefs.com", select=["url_from", "traffic"], limit=100)  # free for the client, not the server
    assert r.units == 1100 == emu.stats()["units_charged"] == a.ledger.usage()[0]["spent"]
    emu.configure(ahrefs_free_subdomains=True, ahrefs_free_targets=["ahrefs.com"])
    r = a.all_backlinks("blog.ahrefs.com", select=["url_from", "traffic"], limit=100)  # free for the server only
    assert r.units == 0 and a.ledger.usage()[0]["spent"] == 1100


def test_commit_uses_the_actual_cost_header_else_rows(ahrefs, emu):
    a = ahrefs()
    r = a.all_backlinks("example.com", select=["url_from", "traffic"], limit=20)
    assert r.estimate == 220 and r.units == 220 == emu.stats()["units_charged"]
    emu.configure(ahrefs_actual_header=False, rows=7)
    r = a.all_backlinks("example.com", select=["url_from", "traffic"], limit=20)
    assert r.units == 77  # max(50, 11 x 7 rows) from x-api-rows
    assert a.ledger.usage()[0]["spent"] == emu.stats()["units_charged"] == 297


def test_mixed_workload_ledger_equals_emulator(ahrefs, emu):
    emu.configure(ahrefs_cache_hits=True)
    a = ahrefs(retry=seowire.RetryPolicy(max_retries=1, base_delay=0.01))
    a.domain_rating("example.com")
    cached = a.domain_rating("example.com", date=a.url("domain_rating", target="example.com").split("date=")[1])
    a.all_backlinks("ahrefs.com", select=["url_from", "traffic"], limit=500)  # free target, capped at 100
    free = a.all_backlinks("yep.com", select=["url_from"], limit=500)
    assert len(free) == 100 and free.units == 0
    a.refdomains("example.com", select=["domain", "traffic_domain"], limit=30)
    a.limits_and_usage()
    emu.fault("status", status=500, count=2, provider="ahrefs")
    with pytest.raises(seowire.ProviderError):
        a.anchors("example.com", select=["anchor"], limit=10)
    emu.fault("error", status=403, provider="ahrefs")
    with pytest.raises(seowire.AuthenticationError) as e:  # a 403 that does not say units: the plan
        a.anchors("example.com", select=["anchor"], limit=10)
    assert e.value.status == 403 and not e.value.retryable
    a.batch_analysis(["a.com", "b.com"], select=["url", "org_cost"])
    charged = emu.stats()["units_charged"]
    usage = a.ledger.usage()[0]
    assert usage["spent"] == charged and usage["reserved"] == 0
    assert a.limits_and_usage()["units_usage_api_key"] == charged
    assert charged == 50 + 0 + 0 + 0 + max(50, 11 * 30) + max(50, 11 * 2)


def test_cache_hit_costs_nothing(ahrefs, emu):
    emu.configure(ahrefs_cache_hits=True)
    a = ahrefs()
    first = a.refdomains("example.com", select=["domain"], limit=100, history="live")
    second = a.refdomains("example.com", select=["domain"], limit=100, history="live")
    assert (first.units, first.cached, second.units, second.cached) == (100, False, 0, True)


def test_key_cap_seeds_a_budget_and_refusal_sends_nothing(ahrefs, emu):
    emu.configure(ahrefs_units_limit=500)
    a = ahrefs()
    budget = a.key_budget()
    assert budget is not None and budget.units == 500
    capped = ahrefs(budget=budget)
    capped.all_backlinks("example.com", select=["url_from"], limit=400)
    before = emu.stats()["requests"]
    with pytest.raises(seowire.BudgetExceeded):
        capped.all_backlinks("example.com", select=["url_from"], limit=200)
    assert emu.stats()["requests"] == before


# -- 5. limits and errors ---------------------------------------------------------------------


def test_exhausted_units_are_not_retried(ahrefs, emu):
    emu.configure(ahrefs_units_limit=60)
    a = ahrefs()
    a.domain_rating("example.com")
    with pytest.raises(seowire.UnitsExhausted) as e:
        a.domain_rating("example.org")
    assert e.value.status == 403 and not e.value.retryable
    assert emu.stats()["requests"] == 2


def test_429_is_retried_with_retry_after(ahrefs, emu):
    emu.fault("status", status=429, retry_after="0", count=2, provider="ahrefs")
    assert ahrefs().domain_rating("example.com")
    assert emu.stats()["requests"] == 3


@pytest.mark.parametrize("status,body,exc", [
    (400, '{"error": "Unknown field: foo"}', seowire.InvalidRequest),
    (401, '["Error", "Unauthorized"]', seowire.AuthenticationError),
    (403, '{"error": "Insufficient API units: the key limit is exceeded"}', seowire.UnitsExhausted),
    (403, '{"error": "This endpoint is not available on your plan"}', seowire.AuthenticationError),
    (404, '{"error": "Not found"}', seowire.ProviderError),
])
def test_error_bodies_map_to_exceptions(ahrefs, emu, status, body, exc):
    emu.fault("status", status=status, body=body, provider="ahrefs")
    with pytest.raises(exc) as e:
        ahrefs().domain_rating("example.com")
    assert e.value.status == status and emu.stats()["requests"] == 1
    assert json.loads(body)[-1 if body.startswith("[") else "error"] in str(e.value)


def test_client_paces_requests_evenly(ahrefs, emu):
    emu.configure(ahrefs_rate_per_minute=600)
    a = ahrefs(rate_limit=600)  # one request per 100 ms

    async def main():
        await asyncio.gather(*[a.domain_rating_async(f"site{i}.com") for i in range(8)])

    asyncio.run(main())
    times = sorted(emu.arrivals("ahrefs"))
    assert len(times) == 8 and emu.stats()["rejected_rate"] == 0
    # Send slots are 100 ms apart; an arrival can lag its slot (a busy 2-core CI machine has
    # shown lags near 100 ms) but never precede it, so requests i..j span at least (j - i - 2)
    # intervals whatever the scheduling jitter, and the whole burst at least 5.
    for i in range(8):
        for j in range(i + 3, 8):
            assert times[j] - times[i] >= (j - i - 2) * 0.1 - 0.005
    assert times[-1] - times[0] >= 0.5


def test_client_side_limit_holds_requests_back(ahrefs, emu):
    a = ahrefs(rate_limit=6)  # one request per 10 s
    emu.configure(ahrefs_rate_per_minute=6)

    async def main():
        await a.domain_rating_async("example.com")
        with pytest.raises(asyncio.TimeoutError):  # the 2nd waits its turn; it is not sent
            await asyncio.wait_for(a.domain_rating_async("example.org"), 0.5)

    asyncio.run(main())
    stats = emu.stats()
    assert stats["requests"] == 1 and stats["rejected_rate"] == 0
    # The cancelled call releases its reservation (the Rust future is dropped on the runtime).
    deadline = time.monotonic() + 2
    while a.ledger.usage()[0]["reserved"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert a.ledger.usage()[0]["reserved"] == 0


def test_emulator_enforces_60_per_minute(ahrefs, emu):
    a = ahrefs(retry=seowire.RetryPolicy(max_retries=0))  # no client-side limit
    emu.configure(ahrefs_rate_per_minute=5)
    for _ in range(5):
        a.domain_rating("example.com")
    with pytest.raises(seowire.RateLimited):
        a.domain_rating("example.com")
    assert emu.stats()["rejected_rate"] == 1


# -- 6. Ahrefs Connect OAuth ------------------------------------------------------------------


def _connect(emu, **kw):
    base = emu.url + "/ahrefs"
    return seowire.AhrefsConnect("app-123", "https://myapp.example/callback", authorize_url=base + "/web/oauth/authorize",
                                 token_url=base + "/oauth/token", **kw)


def _authorize(auth):
    """Follow the authorization URL as the user's browser would; return the callback URL."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(auth.url)
    except urllib.error.HTTPError as e:
        assert e.code == 302
        return e.headers["location"]
    raise AssertionError("no redirect")


def test_pkce_authorization_url():
    c = seowire.AhrefsConnect("app-123", "https://myapp.example/cb")
    a = c.authorization()
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(a.url).query))
    assert a.url.startswith("https://app.ahrefs.com/web/oauth/authorize?")
    assert (q["response_type"], q["client_id"], q["scope"], q["code_challenge_method"]) == ("code", "app-123", "apiv3-integration-apps", "s256")
    assert q["state"] == a.state and 43 <= len(a.code_verifier) <= 128
    import base64, hashlib
    assert q["code_challenge"] == base64.urlsafe_b64encode(hashlib.sha256(a.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert a.code_verifier not in repr(a) and c.authorization().state != a.state
    with pytest.raises(seowire.InvalidRequest):
        c.authorization(code_verifier="too-short")


def test_code_exchange_and_bearer_use(emu):
    emu.configure(keys=["some-other-key"], ahrefs_rate_per_minute=None)
    c = _connect(emu, client_secret="web-app-secret")
    auth = c.authorization()
    callback = _authorize(auth)
    token = c.exchange(callback, authorization=auth)
    assert token.access_token not in repr(token) and "web-app-secret" not in repr(c)
    client = c.client(token, base_url=emu.base_url("ahrefs"), ledger="memory://", rate_limit=None)
    assert client.domain_rating("example.com")["domain_rating"] >= 0
    with pytest.raises(seowire.AuthenticationError, match="already used"):
        c.exchange(callback, authorization=auth)  # codes are single-use


def test_state_mismatch_and_wrong_verifier_are_refused(emu):
    c = _connect(emu)
    auth = c.authorization()
    callback = _authorize(auth)
    with pytest.raises(seowire.AuthenticationError, match="state"):
        c.exchange(callback.replace(auth.state, "forged"), authorization=auth)
    other = c.authorization()
    forged = seowire.ahrefs.Authorization(auth.url, auth.state, other.code_verifier)
    with pytest.raises(seowire.AuthenticationError) as e:
        asyncio.run(c.exchange_async(callback, authorization=forged))
    assert "code_verifier" in str(e.value) and other.code_verifier not in str(e.value)


def test_emulator_balance_works_for_ahrefs(ahrefs, emu):
    from conftest import SECRET

    a = ahrefs(retry=seowire.RetryPolicy(max_retries=0))
    emu.set_balance(SECRET, 60, provider="ahrefs")
    a.domain_rating("example.com")  # 50 units
    assert emu.balance(SECRET, provider="ahrefs") == 10
    with pytest.raises(seowire.UnitsExhausted):
        a.domain_rating("example.org")
    assert a.ledger.usage()[0]["spent"] == 50 == emu.stats()["units_charged"]
    with pytest.raises(ValueError):
        emu.set_balance(SECRET, 1, provider="nonesuch")


@pytest.mark.parametrize("grouping,expected", [
    (None, ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01"]),
    ("monthly", ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01"]),
    ("weekly", [f"2026-{m:02d}-{d:02d}" for m, d in [(1, 1), (1, 8), (1, 15), (1, 22), (1, 29), (2, 5)]]),
])
def test_history_reports_answer_one_row_per_period_in_order(ahrefs, emu, grouping, expected):
    a = ahrefs()
    kw = {"date_from": "2026-01-01", "date_to": "2026-06-30" if grouping != "weekly" else "2026-02-05"}
    if grouping:
        kw["history_grouping"] = grouping
    rows = a.domain_rating_history("example.com", **kw)
    assert [r["date"] for r in rows] == expected
    daily = a.domain_rating_history("example.com", date_from="2026-03-01", date_to="2026-03-10", history_grouping="daily")
    assert [r["date"] for r in daily] == [f"2026-03-{d:02d}" for d in range(1, 11)]
