"""SEMrush API v4: both key versions on one client, the v4 transport (Apikey header, envelope,
request ids, retryable errors, limit/offset paging), the named SEO operations and their prices."""

import asyncio
import json
import logging

import pytest

import seowire
from seowire.exceptions import AuthenticationError, BudgetExceeded, InvalidRequest, ProviderError, UnitsExhausted
from seowire.semrush import V4Object, quote

from conftest import SECRET

V4 = "semrtkn-TEST-v4-key-0123456789"


@pytest.fixture
def both(emu):
    """A client with a v3 and a v4 key of one account (the emulator shares their balance)."""
    emu.configure(rate_limit=None, semrush_v4_accounts={V4: SECRET})

    def make(**kw):
        kw.setdefault("ledger", seowire.Ledger("memory://"))
        kw.setdefault("retry", seowire.RetryPolicy(base_delay=0.01, max_delay=0.05))
        kw.setdefault("cache", False)
        kw.setdefault("rate_limit", None)
        api_key = kw.pop("api_key", SECRET)
        return seowire.Semrush(api_key, v4_key=kw.pop("v4_key", V4), base_url=emu.base_url("semrush"), **kw)

    return make


def test_each_call_uses_the_key_of_its_api_and_one_account(both, emu):
    sr = both()
    assert sr.keys == {"v3": True, "v4": True}
    o = sr.backlinks_v4_overview("moz.com")
    assert isinstance(o, V4Object) and o["url"] == "moz.com" and o.units == 45 and len(o.request_id) == 32
    sr.phrase_this("seo", database="us")
    usage = sr.ledger.usage()
    assert [u["account"] for u in usage] == [sr.account] and usage[0]["spent"] == 45 + 10
    assert emu.balance(SECRET) == 1_000_000 - 55  # one balance for both keys
    assert V4 not in repr(sr) and SECRET not in repr(sr)


def test_a_missing_key_says_which_kind_and_where_to_create_it(emu):
    v3_only = seowire.Semrush(SECRET, base_url=emu.base_url("semrush"), ledger="memory://", cache=False, rate_limit=None)
    with pytest.raises(AuthenticationError, match="v4_key=.*Subscription info > API keys"):
        v3_only.backlinks_v4_links("moz.com")
    v4_only = seowire.Semrush(v4_key=V4, base_url=emu.base_url("semrush"), ledger="memory://", cache=False, rate_limit=None)
    assert v4_only.keys == {"v3": False, "v4": True} and v4_only.account
    with pytest.raises(AuthenticationError, match="api_key=.*version-specific"):
        v4_only.domain_organic("moz.com", database="us")
    assert len(v4_only.backlinks_v4_ref_ips("moz.com", limit=3)) == 3
    with pytest.raises(AuthenticationError, match="api_key=.*v4_key="):
        seowire.Semrush(api_key="", v4_key="")
    assert emu.stats()["requests"] == 1


def test_a_v3_key_sent_to_v4_is_named_as_such(both, emu):
    emu.configure(semrush_v4_key_prefix="semrtkn")
    sr = both(v4_key="plain-v3-style-key-0123456789")
    with pytest.raises(AuthenticationError, match="v3 key") as e:
        sr.backlinks_v4_overview("moz.com")
    assert e.value.status == 403 and "request id" in str(e.value)


def test_the_v4_key_travels_only_in_the_authorization_header(both, emu, caplog):
    caplog.set_level(logging.DEBUG, logger="seowire")
    sr = both()
    sr.backlinks_v4_links("moz.com", limit=2)
    assert V4 not in caplog.text
    with pytest.raises(InvalidRequest, match="Authorization header"):
        sr.v4("backlinks/v1/links", url="moz.com", scope="PAGE", key=V4)
    emu.fault("echo", provider="semrush", status=401)
    with pytest.raises(seowire.exceptions.SeowireError) as e:
        sr.backlinks_v4_overview("moz.com")
    assert V4 not in str(e.value)


def test_named_operations_are_validated_and_priced_before_sending(both, emu):
    sr = both()
    assert sr.estimate("backlinks/v1/links", url="moz.com", scope="ROOT_DOMAIN", limit=10) == 450
    assert sr.estimate("backlinks/v1/overview", url="moz.com", scope="ROOT_DOMAIN") == 45
    assert sr.estimate("keywords/v1/metrics", keyword="seo", country="us") == 20
    for call in [
        lambda: sr.backlinks_v4_links("moz.com", scope="DOMAIN"),
        lambda: sr.backlinks_v4_links("x" * 2001),
        lambda: sr.backlinks_v4_summary("moz.com", date_from="2026-1"),
        lambda: sr.keyword_v4_metrics("seo", country="usa"),
        lambda: sr.v4("backlinks/v1/links", url="moz.com", scope="PAGE", colour=1),
        lambda: sr.v4("backlinks/v1/anchors", url="moz.com", scope="PAGE"),
        lambda: sr.v4("../../users", url="moz.com"),
    ]:
        with pytest.raises(InvalidRequest):
            call()
    assert emu.stats()["requests"] == 0 and sr.ledger.usage() == []
    priced = both(v4_prices={"backlinks/v1/anchors": ("line", 30)})
    assert priced.estimate("backlinks/v1/anchors", url="moz.com", scope="PAGE", limit=4) == 120


def test_lines_are_committed_as_they_come_back_and_budgets_refuse(both, emu):
    emu.configure(rows_per_target={"small.com": 7})
    sr = both(budget=1000)
    rows = sr.backlinks_v4_ref_domains("small.com", limit=20)
    assert len(rows) == 7 and rows.units == 7 * 40 and rows.request_id
    with pytest.raises(BudgetExceeded, match="nothing was sent"):
        sr.backlinks_v4_links("moz.com", limit=20)  # 900 could cross 1000
    picked = sr.backlinks_v4_links("small.com", limit=2, fields=["source_url", "page_score"])
    assert all(set(r) == {"source_url", "page_score"} for r in picked)


def test_paging_by_limit_and_offset_yields_each_line_once(both, emu):
    emu.configure(rows_per_target={"moz.com": 230})
    sr = both()
    lines = list(sr.rows("backlinks/v1/links", url="moz.com", scope="ROOT_DOMAIN", page_size=100))
    assert len(lines) == 230 and len({r["source_url"] for r in lines}) == 230
    emu.fault("status", status=503, count=1, provider="semrush", after=1)
    again = list(sr.rows("backlinks/v1/links", url="moz.com", scope="ROOT_DOMAIN", page_size=100, max_rows=150))
    assert again == lines[:150]

    async def go():
        return [r async for r in sr.rows("backlinks/v1/links", url="moz.com", scope="ROOT_DOMAIN", page_size=50, max_rows=60)]

    assert asyncio.run(go()) == lines[:60]


def test_the_error_fixture_and_retryable_errors(both, emu, fixtures):
    body = (fixtures / "semrush_v4_error_1.json").read_text()
    sr = both()
    emu.fault("status", status=403, body=body, provider="semrush")
    with pytest.raises(AuthenticationError, match="a29952029c10a47e5876d86256e59455"):
        sr.backlinks_v4_overview("moz.com")
    retry = json.dumps({"meta": {"success": False, "status_code": 503, "request_id": "r"}, "error": {"code": 503, "message": "busy", "retryable": True}})
    emu.fault("status", status=503, body=retry, provider="semrush")
    assert sr.backlinks_v4_overview("moz.com")["url"] == "moz.com"
    final = json.dumps({"meta": {"success": False, "status_code": 500, "request_id": "r2"}, "error": {"code": 500, "message": "no", "retryable": False}})
    emu.fault("status", status=500, body=final, provider="semrush")
    before = emu.stats()["requests"]
    with pytest.raises(ProviderError, match="r2"):
        sr.backlinks_v4_overview("moz.com")
    assert emu.stats()["requests"] == before + 1  # retryable=false: not retried


def test_units_running_out_mid_page(both, emu):
    sr = both()
    emu.set_balance(SECRET, 45 * 3)
    rows = sr.backlinks_v4_links("moz.com", limit=10)
    assert len(rows) == 3 and rows.units == 135 and rows.partial  # cut short by the balance, and flagged
    emu.set_balance(SECRET, 10**6)
    emu.configure(rows_per_target={"short.com": 4})
    assert not sr.backlinks_v4_links("short.com", limit=10).partial  # the end of the data is not partial
    emu.set_balance(SECRET, 0)
    with pytest.raises(UnitsExhausted):
        sr.backlinks_v4_links("moz.com", limit=10, offset=3)


def test_async_twins_and_quoting(both):
    sr = both()
    out = asyncio.run(sr.keyword_v4_metrics_async("seo", country="us", month="2026-10"))
    assert out["keyword"] == "seo" and out.units == 20
    assert quote("it's") == "'it''s'" and quote(["a", 1]) == "('a', 1)"
    rows = sr.backlinks_v4_links("moz.com", limit=3, filter=f"source_url LIKE {quote('https://blog.%')} AND page_score > 50")
    assert len(rows) == 3
    df = sr.v4("backlinks/v1/ref-domains", url="moz.com", scope="ROOT_DOMAIN", limit=5, output="pandas")
    assert len(df) == 5 and "domain" in df.columns


def test_capabilities_record_the_version_rules():
    v = seowire.capabilities("semrush")["versions"]
    assert v["v3_deprecated"] == "2026-11-16" and "end of 2027" in v["v3_shutdown"]
    assert "Apikey" in v["v4_auth"] and "v4 key only on v4" in v["key_rule"]


def test_one_in_flight_limit_across_v3_and_v4(both, emu):
    emu.configure(latency_ms=20)
    sr = both(max_in_flight=3)

    async def go():
        v3 = [sr.phrase_this_async(f"seo {i}", database="us") for i in range(8)]
        v4 = [sr.backlinks_v4_overview_async(f"site{i}.com") for i in range(8)]
        return await asyncio.gather(*v3, *v4)

    assert len(asyncio.run(go())) == 16
    assert emu.stats()["peak_in_flight"] == 3


def test_projects_v4_go_with_the_v4_key(both, emu):
    sr = both()
    listed = sr.projects("projects/v1/projects")
    assert listed[0]["project_name"] == "myproject" and listed.units == 100 and listed.request_id
    assert sr.estimate("projects/v1/projects") == 100
    with pytest.raises(InvalidRequest):
        sr.projects("projects/v1/projects", method="POST", json={"name": "x"})


def test_operations_of_unknown_shape_follow_the_emulator_setting(both, emu):
    sr = both(v4_prices={"backlinks/v1/anchors": ("line", 40), "backlinks/v1/competitors": ("request", 50)})
    with pytest.raises(InvalidRequest, match="404"):
        sr.v4("backlinks/v1/anchors", url="moz.com", scope="ROOT_DOMAIN", limit=5)
    emu.configure(semrush_v4_unknown_ops="empty")
    rows = sr.v4("backlinks/v1/anchors", url="moz.com", scope="ROOT_DOMAIN", limit=5)
    assert list(rows) == [] and rows.units == 0
    emu.configure(semrush_v4_unknown_ops="object")
    assert sr.v4("backlinks/v1/competitors", url="moz.com").units == 50
    assert sum(u["spent"] for u in sr.ledger.usage()) == 50
